import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { BOOKING_QUEUE, decodeReply, encodeJob, Keyring, type StoredJob, type StoredReply } from '@booking/queue';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { Stack } from './support/stack.js';
import { COUNTED_TTL_SECONDS } from '../apps/worker/src/observability/count-once.js';

/** Patient data at rest in Redis: sealed, and gone once a job's retention has passed. */

let stack: Stack;
let slots: SlotForBooking[];

const RETENTION_SECONDS = 8;
const k1 = Keyring.generate('k1');
const k2 = Keyring.generate('k2');

beforeAll(async () => {
  // Mid-rotation: the facade still seals with k1 while the worker already seals with k2.
  // A short retention (the shortest the facade accepts is JOB_TIMEOUT_MS + 5 s), so that it passes within the test.
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { QUEUE_ENCRYPTION_KEYS: `${k1},${k2}`, JOB_TIMEOUT_MS: '3000', JOB_RETENTION_SECONDS: String(RETENTION_SECONDS) } });
  stack.workers[0]?.child.kill('SIGTERM');
  await new Promise((r) => stack.workers[0]?.child.once('exit', r));
  stack.workers.length = 0;
  stack.options.env = { ...stack.options.env, QUEUE_ENCRYPTION_KEY_ID: 'k2' };
  stack.startWorker();
  await stack.waitReady(stack.facades[0]!);
  const db = stack.openPas();
  slots = freeSlots(db);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

async function book(slot: SlotForBooking) {
  const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book'), body: JSON.stringify(bookingBody(slot, { family: 'Zanzibarova' })) });
  return res.status;
}

const isJobKey = (key: string) => /:pas-requests:[0-9a-f-]{36}$/.test(key);

/** Every value under the stack's queue prefix, whatever the Redis type. */
async function dumpQueueKeys(redis: Redis): Promise<{ keys: string[]; text: string }> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${stack.queuePrefix}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const parts: string[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    else if (type === 'string') parts.push((await redis.get(key)) ?? '');
  }
  return { keys, text: parts.join('\n') };
}

describe('queue data at rest', () => {
  it('books while facade and worker seal with different keys of one keyring (key rotation)', async () => {
    expect(await book(slots[0]!)).toBe(201);
  });

  it('keeps no NHS number, name or birth date in clear in any Redis key', async () => {
    expect(await book(slots[1]!)).toBe(201);
    const redis = new Redis(inject('redisUrl'));
    try {
      const { keys, text } = await dumpQueueKeys(redis);
      expect(keys.length).toBeGreaterThan(0);
      expect(/kind\\*":\\*"book/.test(text)).toBe(true);
      const found = ['9658218873', 'Zanzibarova', '1970-01-01', '1 High Street', 'LS1 1AA'].filter((secret) => text.includes(secret));
      expect(found).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('once the retention has passed, with no job after, no job and no sealed reply is left in Redis (job hashes, event streams)', async () => {
    const redis = new Redis(inject('redisUrl'));
    try {
      expect(await book(slots[2]!)).toBe(201);
      const before = await dumpQueueKeys(redis);
      expect(before.keys.filter(isJobKey).length).toBeGreaterThan(0);
      expect(before.text).toMatch(/sealed/); // the job hashes and the `completed` events hold sealed data
      // No further job: the facade's own timer must remove them (BullMQ's removeOnComplete only
      // acts when a later job completes, and its event stream is trimmed by length alone).
      let left = before;
      for (let i = 0; i < 60 && (left.keys.some(isJobKey) || /sealed/.test(left.text)); i++) {
        await sleep(500);
        left = await dumpQueueKeys(redis);
      }
      expect(left.keys.filter(isJobKey)).toEqual([]);
      expect(left.text).not.toMatch(/sealed/);
      expect(left.keys).toContain(`${stack.queuePrefix}:${BOOKING_QUEUE}:events`); // trimmed, not deleted
      // All that stays of a job past the retention (operations.md): its count-once mark
      // (observability/count-once.ts), named by the job's random id, holding "1", for a day.
      const perJob = left.keys.filter((key) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(key));
      const marks = perJob.filter((key) => key.startsWith(`${stack.queuePrefix}:${BOOKING_QUEUE}:counted:`));
      expect(perJob).toEqual(marks);
      expect(marks.length).toBeGreaterThan(0);
      for (const mark of marks) {
        expect(mark).toMatch(/:counted:[0-9a-f-]{36}$/);
        expect(await redis.get(mark)).toBe('1');
        const ttl = await redis.ttl(mark);
        expect(ttl).toBeGreaterThan(RETENTION_SECONDS);
        expect(ttl).toBeLessThanOrEqual(COUNTED_TTL_SECONDS);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe('what the seal binds (AES-GCM additional data), against real Redis and a real worker', () => {
  let queue: Queue<StoredJob, StoredReply>;
  let events: QueueEvents;
  let redis: Redis;
  const ring = () => new Keyring(`${k1},${k2}`, 'k1');
  const jobKey = (id: string) => `${stack.queuePrefix}:${BOOKING_QUEUE}:${id}`;

  beforeAll(async () => {
    queue = new Queue(BOOKING_QUEUE, { connection: { url: inject('redisUrl') }, prefix: stack.queuePrefix });
    events = new QueueEvents(BOOKING_QUEUE, { connection: { url: inject('redisUrl') }, prefix: stack.queuePrefix });
    redis = new Redis(inject('redisUrl'));
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await queue?.close();
    await events?.close();
    redis?.disconnect();
  });

  /** Adds a sealed noop job under an id chosen here, as the facade does. */
  async function addNoop(deadline: number, delay = 0) {
    const id = randomUUID();
    const job = await queue.add('noop', encodeJob({ kind: 'noop', traceRequestId: id }, id, deadline, ring()), { jobId: id, attempts: 1, ...(delay ? { delay } : {}) });
    return { id, job };
  }

  it('a job whose clear deadline was pushed back in Redis is refused by the worker, which does nothing', async () => {
    const { id, job } = await addNoop(Date.now() - 1000, 1500); // expired; waits 1.5 s in the delayed set
    const stored = JSON.parse((await redis.hget(jobKey(id), 'data')) as string) as StoredJob;
    await redis.hset(jobKey(id), 'data', JSON.stringify({ ...stored, deadline: Date.now() + 3600_000 }));
    const reply = decodeReply((await job.waitUntilFinished(events, 15000)) as StoredReply, id, ring());
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500, diagnostics: expect.stringMatching(/could not be decoded/) } });
  });

  it('a sealed reply copied onto another job does not open as that job\'s reply', async () => {
    const a = await addNoop(Date.now() + 10000);
    const b = await addNoop(Date.now() + 10000);
    const replyA = (await a.job.waitUntilFinished(events, 15000)) as StoredReply;
    await b.job.waitUntilFinished(events, 15000);
    expect(decodeReply(replyA, a.id, ring())).toEqual({ type: 'empty' });
    await redis.hset(jobKey(b.id), 'returnvalue', JSON.stringify(replyA));
    const swapped = (await Job.fromId<StoredJob, StoredReply>(queue, b.id))?.returnvalue as StoredReply;
    expect(swapped).toEqual(replyA);
    expect(() => decodeReply(swapped, b.id, ring())).toThrow();
  });

  it('a job payload moved under another job id is refused', async () => {
    const id = randomUUID();
    const moved = await queue.add('noop', encodeJob({ kind: 'noop', traceRequestId: id }, 'another-job-id', Date.now() + 10000, ring()), { jobId: id, attempts: 1 });
    const reply = decodeReply((await moved.waitUntilFinished(events, 15000)) as StoredReply, id, ring());
    expect(reply).toMatchObject({ type: 'problem', problem: { status: 500 } });
  });
});
