import { randomUUID } from 'node:crypto';
import { BOOKING_QUEUE, type ClockMeasurement, decodeReply, QueueClock, type QueueClockOptions, encodeJob, type Keyring, type PasJob, type RedisTarget, redisConnection, type StoredJob, type StoredReply, type WorkerReply } from '@booking/queue';
import { Queue, QueueEvents, type Telemetry } from 'bullmq';
import type { Redis } from 'ioredis';
import { MAX_JOB_TIMEOUT_MS } from './config.js';
import { JobError, type JobRunner } from './job-runner.js';

export { JobError };

export interface QueueClientOptions {
  /** REDIS_URL, or the Sentinel settings (a plain URL string is one server). */
  redis: RedisTarget | string;
  prefix: string;
  keyring: Keyring;
  /** How long finished jobs (sealed) and their events stay in Redis, for the dashboard; longer than any job's deadline (config.ts). */
  retentionSeconds: number;
  /** BullMQ telemetry (bullmq-otel) when tracing is on: the job carries the trace context to the worker. */
  telemetry?: Telemetry | undefined;
  /** Each measurement of the queue's clock (Redis's) against this host's: for a gauge and a warning. */
  onClock?: ((measurement: ClockMeasurement) => void) | undefined;
  /** The clock's failures and held-back measurements, for the log (clockWarnings in @booking/queue). */
  clockWarnings?: Pick<QueueClockOptions, 'onError' | 'onHeldBack'> | undefined;
}

/**
 * The facade's side of the queue: add a job, wait for its reply. One Queue and one QueueEvents
 * per process, shared by every request.
 *
 * Replies come through one pair of `completed`/`failed` listeners on the shared QueueEvents and a
 * map of the requests waiting, by job id (which we choose, so a request is waiting before its job
 * exists and no completion can slip past). BullMQ's `job.waitUntilFinished` would instead add and
 * remove three listeners per request and run an `isFinished` script in Redis per request, only to
 * catch a completion that happened before it listened; here that check runs only when a wait
 * times out (a missed event, e.g. across a reconnect, is then still answered).
 *
 * Job options, and why: `attempts: 1` — a job that throws is not retried by BullMQ, because the
 * consumer owns retries (it resends with the same X-Request-ID, which the PAS transaction makes
 * idempotent) and a blind retry could book after the caller was told the outcome is unknown. A job
 * whose worker dies is not lost: BullMQ's stalled-job check hands it to another worker once (see
 * the worker's lock settings), which finds a committed booking by its request id or, when the
 * caller has stopped waiting (the job's deadline), does nothing.
 */
export class PasQueueClient implements JobRunner {
  readonly queue: Queue<StoredJob, StoredReply>;
  private readonly events: QueueEvents;
  private readonly keyring: Keyring;
  private readonly connections: [Redis, Redis];
  private readonly retentionSeconds: number;
  /** Requests waiting for their job's reply, by job id. */
  private readonly waiting = new Map<string, Waiter>();
  private readonly eventsReady: Promise<unknown>;
  private eventsAreReady = false;
  /** Outcomes to hand to their requests, one per turn of the event loop (see settle). */
  private readonly handOver: (() => void)[] = [];
  private readonly retentionTimer: NodeJS.Timeout;
  private removing = false;
  /** Redis's clock, on which job deadlines are stamped and checked (clock.ts). */
  readonly clock: QueueClock;

  constructor({ redis, prefix, keyring, retentionSeconds, telemetry, onClock, clockWarnings }: QueueClientOptions) {
    this.keyring = keyring;
    this.retentionSeconds = retentionSeconds;
    const eventsConnection = redisConnection(redis, 'events');
    // QueueEvents reads the event stream on a duplicate of the connection it is given, and closes
    // that duplicate only once it has connected: one that never did (Redis down since start) would
    // keep reconnecting after close(), and the connection given would sit idle. Handed this one as
    // its own duplicate, the events connection stays one, and ours to close.
    eventsConnection.duplicate = () => eventsConnection;
    this.connections = [redisConnection(redis, 'producer'), eventsConnection];
    // BullMQ stops listening when it closes; a connection still retrying then must not throw.
    for (const connection of this.connections) connection.on('error', () => {});
    this.queue = new Queue<StoredJob, StoredReply>(BOOKING_QUEUE, { connection: this.connections[0], prefix, telemetry });
    this.events = new QueueEvents(BOOKING_QUEUE, { connection: eventsConnection, prefix });
    // Errors surface per request; without listeners the emitters would throw on connection loss.
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
    this.events.on('completed', ({ jobId, returnvalue }) => this.settle(jobId, { reply: returnvalue as unknown as StoredReply }));
    this.events.on('failed', ({ jobId, failedReason }) => this.settle(jobId, { failedReason }));
    // Retention is enforced by a timer, not left to BullMQ alone (see removeExpired).
    this.retentionTimer = setInterval(() => void this.removeExpired(), retentionSweepMs(retentionSeconds));
    this.retentionTimer.unref();
    this.clock = new QueueClock(this.connections[0], { ...clockWarnings, onMeasured: onClock }).start(this.connections[0]);
    // No job is stamped before the clock is measured: a deadline on this host's clock could be
    // seconds off the worker's.
    this.eventsReady = Promise.all([this.events.waitUntilReady(), this.clock.measured]).then(
      () => {
        this.eventsAreReady = true;
      },
      () => {},
    );
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady(), this.clock.measured]);
  }

  async run(data: PasJob, timeoutMs: number): Promise<WorkerReply> {
    // Chosen here, not by BullMQ, so that the seal can bind the job and its reply to it.
    const jobId = randomUUID();
    const received = performance.now();
    const sendLimitMs = Math.min(timeoutMs, SEND_LIMIT_MS);
    // Until the event stream is first read, a completion could pass unseen. Waited for with the
    // same limit as the add: with Redis down since this process started, a request must not park
    // here and become a job (with a fresh deadline) long after its caller gave up.
    if (!this.eventsAreReady) {
      try {
        await withTimeout(this.eventsReady, sendLimitMs);
      } catch {
        throw new JobError('queue-unavailable', `the queue is unavailable: no connection to Redis within ${sendLimitMs} ms`);
      }
    }
    // The job's deadline is the request's, on Redis's clock, which the worker reads too (clock.ts):
    // the worker does nothing after it (processor.ts), whatever the two hosts' clocks say. Stamped
    // once that clock is measured (eventsReady), less the time spent waiting for it.
    const deadline = this.clock.now() + timeoutMs - (performance.now() - received);
    // Waiting before the job exists: its completion cannot come before we listen. The wait ends at
    // the deadline on the same clock, so "outcome unknown" is never answered before it. The worker
    // commits only until DEADLINE_MARGIN_MS (0.5 s) before it on its own estimate of that clock;
    // the two estimates are each off by at most half a TIME round trip (well under 0.1 s on a
    // LAN) plus the monotonic clocks' drift between refreshes (~1 ms), and no re-measurement moves
    // an estimate back by more than 50 ms (a failover to a Redis whose clock is behind, a stalled
    // measurement: clock.ts), so the margin still covers the COMMIT's round trip. Redis hosts
    // whose clocks differ by more than the margin still move deadlines for a process that starts
    // or first measures after a failover: they must keep their clocks synchronised (install.md).
    const finished = this.waitFor(jobId, Math.max(0, deadline - this.clock.now()));
    try {
      await withTimeout(
        this.queue.add(data.kind, encodeJob(data, jobId, deadline, this.keyring), {
          jobId,
          attempts: 1,
          // Finished jobs stay a while for the dashboard, then expire (they are sealed anyway).
          removeOnComplete: { age: this.retentionSeconds },
          removeOnFail: { age: this.retentionSeconds },
        }),
        sendLimitMs,
      );
    } catch (error) {
      this.settle(jobId, undefined);
      const message = (error as Error).message;
      // Refused before anything was sent (no connection, and the producer queues nothing offline):
      // surely nothing was done. Otherwise — the connection dropped mid-command (a Redis failover),
      // or Redis did not confirm within the second — the job may exist and run: outcome unknown.
      if (NOT_SENT.test(message)) throw new JobError('queue-unavailable', `the queue is unavailable: ${message}`);
      throw new JobError('timeout', `the queue did not confirm the job (${message}), so it may still run`);
    }
    const outcome = await finished;
    if (outcome === 'timeout') throw new JobError('timeout', `no reply from a worker within ${timeoutMs} ms`);
    if ('failedReason' in outcome) throw new JobError('job-failed', outcome.failedReason);
    try {
      return decodeReply(outcome.reply, jobId, this.keyring);
    } catch (error) {
      // The worker did the job (a booking is made) but its reply does not open here: most often a
      // worker sealing with a key this facade was not given yet (a rotation done out of order).
      throw new JobError('reply-unreadable', `the worker's reply does not open: ${(error as Error).message}; does every facade have every key of QUEUE_ENCRYPTION_KEYS?`);
    }
  }

  /** Resolves with the job's outcome, or 'timeout' when none came (after one last look in Redis). */
  private waitFor(jobId: string, timeoutMs: number): Promise<Outcome | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // The event may have been missed (e.g. the events connection dropped): ask the job itself,
        // briefly — a frozen or cut-off Redis never answers, and the request must be answered.
        void this.lookUp(jobId, Math.min(timeoutMs, SEND_LIMIT_MS)).then((outcome) => this.settle(jobId, outcome ?? 'timeout'));
      }, timeoutMs);
      this.waiting.set(jobId, { resolve, timer });
    });
  }

  private settle(jobId: string, outcome: Outcome | 'timeout' | undefined): void {
    const waiter = this.waiting.get(jobId);
    if (!waiter) return; // another facade's job, or one already answered
    this.waiting.delete(jobId);
    clearTimeout(waiter.timer);
    if (!outcome) return;
    // One read of the event stream can bring many completions; each request's continuation (open,
    // parse and write the answer: ≈ 17 ms for 1,000 slots) runs in a turn of its own, so sockets
    // are read between them instead of after the whole burst.
    this.handOver.push(() => waiter.resolve(outcome));
    if (this.handOver.length === 1) setImmediate(() => this.handOverNext());
  }

  private handOverNext(): void {
    this.handOver.shift()?.();
    if (this.handOver.length > 0) setImmediate(() => this.handOverNext());
  }

  private async lookUp(jobId: string, limitMs: number): Promise<Outcome | undefined> {
    try {
      const job = await withTimeout(this.queue.getJob(jobId), limitMs);
      if (job?.finishedOn === undefined) return undefined;
      return job.failedReason ? { failedReason: job.failedReason } : { reply: job.returnvalue };
    } catch {
      return undefined;
    }
  }

  /**
   * Removes what jobs leave in Redis once JOB_RETENTION_SECONDS have passed: finished jobs, and
   * every entry of the queue's event stream older than that — `completed` entries carry the sealed
   * reply. BullMQ alone would keep them longer: `removeOnComplete`'s age is applied only when a
   * later job finishes (overnight the last jobs stay), and it trims the event stream to about
   * 10,000 entries, whatever their age (days of replies on a quiet trust). Jobs still waiting for a
   * worker or in a paused queue go once they are past every deadline they could have: the queue
   * is shared, another facade may wait longer (up to the largest JOB_TIMEOUT_MS) than this one's
   * retention, and a job's age is its adding host's clock read against this one's. So they wait
   * the longer of the retention and MAX_JOB_TIMEOUT_MS + WAIT_CLOCK_MARGIN_MS.
   *
   * Run by every facade on a timer: each step is idempotent and atomic in Redis, so facades
   * running it at once only repeat each other. Never cuts short a wait: the retention is longer
   * than this facade's deadlines, so no request still waits for a job or an event removed here.
   */
  async removeExpired(): Promise<void> {
    if (this.removing) return;
    this.removing = true;
    try {
      const graceMs = this.retentionSeconds * 1000;
      const waitGraceMs = unrunJobGraceMs(this.retentionSeconds);
      for (const [type, grace] of [['completed', graceMs], ['failed', graceMs], ['wait', waitGraceMs], ['paused', waitGraceMs]] as const) {
        // In batches, so that no one script holds Redis for long after a backlog.
        while ((await this.queue.clean(grace, CLEAN_BATCH, type)).length === CLEAN_BATCH);
      }
      // Stream ids are Redis' clock in ms at XADD: ask its clock, not this host's. Exact, not `~`:
      // an approximate trim keeps a whole node (up to 100 entries) until its newest entry expires.
      const [producer] = this.connections;
      const [seconds, micros] = await producer.time();
      await producer.xtrim(this.queue.keys.events as string, 'MINID', Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - graceMs);
    } catch {
      // Redis away: the next run catches up (and each request reports the outage itself).
    } finally {
      this.removing = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    for (const jobId of [...this.waiting.keys()]) this.settle(jobId, { failedReason: 'the facade is shutting down' });
    this.clock.stop();
    // QueueEvents' close first waits for its connection to be ready, which with Redis down since
    // start never comes: give BullMQ a moment, then cut the connections regardless.
    await withTimeout(Promise.allSettled([this.queue.close(), this.events.close()]), CLOSE_LIMIT_MS).catch(() => {});
    // BullMQ leaves connections it was handed open: they are ours to close.
    for (const connection of this.connections) connection.disconnect();
  }
}

/** ioredis' refusal of a command it never sent (offline, with the offline queue off). */
const NOT_SENT = /Stream isn't writeable/;

/** How long Redis may take to take a job, or to answer the last look at one, before the request gives up. */
const SEND_LIMIT_MS = 1000;
/** Most jobs removed by one Redis script (Queue.clean) while removing expired ones. */
const CLEAN_BATCH = 1000;

/** How far apart the clocks of the facades sharing a queue may be (twice what `doctor` tolerates against Redis: 5 s). */
export const WAIT_CLOCK_MARGIN_MS = 10_000;

/**
 * How long a job no worker has taken yet (waiting, or in a paused queue) stays before it is removed:
 * past any facade's deadline for it, whichever facade added it and whatever its clock, and never
 * sooner than the retention.
 */
export function unrunJobGraceMs(retentionSeconds: number): number {
  return Math.max(retentionSeconds * 1000, MAX_JOB_TIMEOUT_MS + WAIT_CLOCK_MARGIN_MS);
}

/**
 * How often expired jobs and events are removed: every minute, or every tenth of the retention
 * when that is shorter (at least every second). So nothing stays longer than the retention plus
 * that (docs/operations.md).
 */
export function retentionSweepMs(retentionSeconds: number): number {
  return Math.min(60_000, Math.max(1000, retentionSeconds * 100));
}

/** How long close() lets BullMQ close gracefully before cutting the connections. */
const CLOSE_LIMIT_MS = 1000;

type Outcome = { reply: StoredReply } | { failedReason: string };

interface Waiter {
  resolve: (outcome: Outcome | 'timeout') => void;
  timer: NodeJS.Timeout;
}

/**
 * Rejects when `promise` has not settled within `ms`. After a busy stretch of this process (a
 * burst of large answers, a long GC pause) Node runs expired timers before it reads the sockets,
 * so the timer is given one turn of the event loop for I/O first: an answer that arrived in time
 * is not taken for a missing one (64 concurrent 1,000-slot searches stalled the facade's loop for
 * up to 0.5 s on an idle machine, and `Queue.add` then "timed out" with its reply already waiting).
 */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new Error(`no answer from Redis within ${ms} ms`));
        }),
      ms,
    );
    promise.then(
      (v) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
