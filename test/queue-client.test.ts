import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { BOOKING_QUEUE, bundleReply, encodeReply, Keyring, redisConnection, type StoredJob, type StoredReply } from '@booking/queue';
import { type QueueEvents, Worker } from 'bullmq';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { MAX_JOB_TIMEOUT_MS } from '../apps/facade/src/config.js';
import { JobError, PasQueueClient, unrunJobGraceMs } from '../apps/facade/src/queue-client.js';
import { startRedis } from './support/redis.js';

/** The facade's queue client against a real Redis and an in-process BullMQ worker. */

const keys = Keyring.generate('k1');
const keyring = new Keyring(keys, 'k1');
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

function setUp(answer: (job: StoredJob, jobId: string) => Promise<StoredReply>) {
  const prefix = `qc${randomUUID().slice(0, 8)}`;
  const redisUrl = inject('redisUrl');
  const client = new PasQueueClient({ redis: redisUrl, prefix, keyring, retentionSeconds: 60 });
  const connection = redisConnection(redisUrl, 'worker');
  const worker = new Worker<StoredJob, StoredReply>(BOOKING_QUEUE, async (job) => answer(job.data, String(job.id)), { connection, prefix, concurrency: 8 });
  cleanup.push(async () => {
    await worker.close();
    connection.disconnect();
    await client.close();
  });
  return { client, worker };
}

describe('PasQueueClient', () => {
  it('gives each of many concurrent requests its own reply', async () => {
    // The worker echoes the job's id (in clear on the stored job) in a sealed bundle reply.
    const { client } = setUp(async (job, jobId) => encodeReply(bundleReply({ id: job.traceRequestId }), jobId, keyring));
    await client.ready();
    const ids = Array.from({ length: 50 }, () => randomUUID());
    const replies = await Promise.all(ids.map((id) => client.run({ kind: 'noop', traceRequestId: id }, 5000)));
    expect(replies.map((r) => (r.type === 'bundle' ? JSON.parse(gunzipSync(Buffer.from(r.gzip, 'base64')).toString()).id : r.type))).toEqual(ids);
  });

  it('still answers from the job itself when the completion event was missed (e.g. the events connection dropped)', async () => {
    const { client } = setUp(async (_job, jobId) => encodeReply({ type: 'empty' }, jobId, keyring));
    await client.ready();
    // Stop listening to the event stream: the completion now happens unseen.
    await (client as unknown as { events: QueueEvents }).events.close();
    const reply = await client.run({ kind: 'noop', traceRequestId: randomUUID() }, 500);
    expect(reply).toEqual({ type: 'empty' });
  });

  it('times out when no worker answers, and reports a failed job as failed', async () => {
    const { client, worker } = setUp(async () => {
      throw new Error('cannot open the job');
    });
    await client.ready();
    await expect(client.run({ kind: 'noop', traceRequestId: randomUUID() }, 5000)).rejects.toMatchObject({ reason: 'job-failed', message: 'cannot open the job' });
    await worker.pause();
    const timedOut = await client.run({ kind: 'noop', traceRequestId: randomUUID() }, 300).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(JobError);
    expect(timedOut).toMatchObject({ reason: 'timeout' });
  });

  it('reports a reply that does not open (a worker sealing with a key this facade lacks) as reply-unreadable, naming the key', async () => {
    const rolledAhead = new Keyring(`${keys},${Keyring.generate('k2')}`, 'k2'); // a worker given the next key before the facades
    const { client } = setUp(async (_job, jobId) => encodeReply({ type: 'empty' }, jobId, rolledAhead));
    await client.ready();
    const failure = await client.run({ kind: 'noop', traceRequestId: randomUUID() }, 5000).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(JobError);
    expect(failure).toMatchObject({ reason: 'reply-unreadable', message: expect.stringMatching(/unknown key "k2".*QUEUE_ENCRYPTION_KEYS/) });
  });

  it('does not take a reply that arrived during a long pause of the process for a missing one', async () => {
    const { client } = setUp(async (_job, jobId) => encodeReply({ type: 'empty' }, jobId, keyring));
    await client.ready();
    await client.run({ kind: 'noop', traceRequestId: randomUUID() }, 5000); // scripts loaded, connections warm
    const reply = client.run({ kind: 'noop', traceRequestId: randomUUID() }, 5000);
    // Once Queue.add is on the wire, block the event loop past its 1 s limit (as a burst of large
    // answers or a long GC pause does); Redis answers meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // busy: nothing else runs
    }
    expect(await reply).toEqual({ type: 'empty' });
  });
});

/** A wait limit for something that must happen: what it resolves to when it does not (not a timing claim). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  return Promise.race([promise, sleep(ms).then(() => 'still waiting' as const)]);
}

describe('PasQueueClient retention', () => {
  it('removes jobs that waited longer than the retention for a worker (queue running or paused): they hold sealed payloads, and are past their deadline', async () => {
    const redisUrl = inject('redisUrl');
    const client = new PasQueueClient({ redis: redisUrl, prefix: `qc${randomUUID().slice(0, 8)}`, keyring, retentionSeconds: 1 });
    cleanup.push(() => client.close());
    await client.ready();
    // No worker: each job times out and stays where it waits, sealed.
    const waitFor = (timeoutMs: number) => client.run({ kind: 'noop', traceRequestId: randomUUID() }, timeoutMs).catch((e: unknown) => e);
    expect(await waitFor(200)).toMatchObject({ reason: 'timeout' });
    await client.queue.pause();
    expect(await waitFor(200)).toMatchObject({ reason: 'timeout' });
    const counts = () => client.queue.getJobCounts('wait', 'paused');
    expect(Object.values(await counts()).reduce((a, b) => a + b)).toBe(2);
    // Unrun jobs stay past every facade's deadline (unrunJobGraceMs), not only this one's retention.
    await sleep(1100);
    await client.removeExpired();
    expect(Object.values(await counts()).reduce((a, b) => a + b)).toBe(2);
    // This host's clock read once that bound has passed.
    const realNow = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + unrunJobGraceMs(1) + 1000);
    await client.removeExpired();
    vi.restoreAllMocks();
    expect(await counts()).toEqual({ wait: 0, paused: 0 });
    expect(await client.queue.getJobs(['wait', 'paused'])).toEqual([]);
  });

  it("never removes a job still within another facade's deadline: a facade with a short retention sweeping the shared queue leaves a longer-waiting facade's job to run", async () => {
    const redisUrl = inject('redisUrl');
    const prefix = `qc${randomUUID().slice(0, 8)}`;
    // Facade A waits the longest JOB_TIMEOUT_MS; facade B, on the same queue, keeps jobs 15 s (valid for its 10 s timeout).
    const a = new PasQueueClient({ redis: redisUrl, prefix, keyring, retentionSeconds: 3600 });
    const b = new PasQueueClient({ redis: redisUrl, prefix, keyring, retentionSeconds: 15 });
    cleanup.push(() => a.close(), () => b.close());
    await Promise.all([a.ready(), b.ready()]);
    const reply = a.run({ kind: 'noop', traceRequestId: randomUUID() }, MAX_JOB_TIMEOUT_MS).catch((e: unknown) => e);
    await vi.waitFor(async () => expect(await a.queue.getJobCounts('wait')).toEqual({ wait: 1 }));
    // No worker free yet (a backlog). B sweeps when the job has waited 16 s by B's clock, which
    // runs 5 s fast too: past B's retention, well within A's deadline.
    const realNow = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 16_000 + 5000);
    await b.removeExpired();
    vi.restoreAllMocks();
    expect(await a.queue.getJobCounts('wait')).toEqual({ wait: 1 });
    // A worker frees up: the job runs and A's request gets its answer.
    const connection = redisConnection(redisUrl, 'worker');
    const worker = new Worker<StoredJob, StoredReply>(BOOKING_QUEUE, async (job) => encodeReply({ type: 'empty' }, String(job.id), keyring), { connection, prefix });
    cleanup.push(async () => {
      await worker.close();
      connection.disconnect();
    });
    expect(await within(reply, 10_000)).toEqual({ type: 'empty' });
  });
});

describe('PasQueueClient with Redis unreachable or unresponsive', () => {
  it('refuses a request as "queue unavailable" when Redis has been down since the client started, sends nothing later, and closes', async () => {
    const redis = await startRedis();
    await redis.stop();
    const prefix = `qc${randomUUID().slice(0, 8)}`;
    const client = new PasQueueClient({ redis: redis.url, prefix, keyring, retentionSeconds: 60 });
    cleanup.push(() => redis.stop());
    const refused = await within(
      client.run({ kind: 'noop', traceRequestId: randomUUID() }, 500).catch((e: unknown) => e),
      10_000,
    );
    expect(refused).toBeInstanceOf(JobError);
    expect(refused).toMatchObject({ reason: 'queue-unavailable' });
    // Redis comes back: the refused request does not turn into a job behind its caller's back.
    await redis.restart();
    expect(await within(client.ready(), 10_000)).not.toBe('still waiting');
    expect(await client.queue.getJobCounts('waiting', 'active', 'completed')).toMatchObject({ waiting: 0, active: 0, completed: 0 });
    await client.close();
  });

  it('closes while Redis has never been reachable', async () => {
    const redis = await startRedis();
    await redis.stop();
    const client = new PasQueueClient({ redis: redis.url, prefix: `qc${randomUUID().slice(0, 8)}`, keyring, retentionSeconds: 60 });
    expect(await within(client.close().then(() => 'closed'), 10_000)).toBe('closed');
  });

  it('answers "timeout" (outcome unknown) when Redis stops answering after taking the job, and closes', async () => {
    const redis = await startRedis();
    cleanup.push(async () => {
      redis.process.kill('SIGCONT');
      await redis.stop();
    });
    const client = new PasQueueClient({ redis: redis.url, prefix: `qc${randomUUID().slice(0, 8)}`, keyring, retentionSeconds: 60 });
    await client.ready();
    // No worker: the job waits in the queue once Redis has confirmed it.
    const pending = client.run({ kind: 'noop', traceRequestId: randomUUID() }, 1000).catch((e: unknown) => e);
    await sleep(300);
    redis.process.kill('SIGSTOP'); // frozen: the sockets stay open, nothing answers
    const outcome = await within(pending, 15_000);
    expect(outcome).toBeInstanceOf(JobError);
    expect(outcome).toMatchObject({ reason: 'timeout' });
    expect(await within(client.close().then(() => 'closed'), 10_000)).toBe('closed');
  });
});
