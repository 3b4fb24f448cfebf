import { randomUUID } from 'node:crypto';
import { BOOKING_QUEUE, decodeReply, encodeJob, type Keyring, type PasJob, redisConnection, type StoredJob, type StoredReply, type WorkerReply } from '@booking/queue';
import { type Job, Queue, QueueEvents, type Telemetry } from 'bullmq';
import type { Redis } from 'ioredis';

/** Why a job gave no reply: the facade turns each into a 500 OperationOutcome. */
export class JobError extends Error {
  constructor(
    readonly reason: 'queue-unavailable' | 'timeout' | 'job-failed',
    message: string,
  ) {
    super(message);
  }
}

export interface QueueClientOptions {
  redisUrl: string;
  prefix: string;
  keyring: Keyring;
  /** How long finished jobs (sealed) stay in Redis for the dashboard. */
  retentionSeconds: number;
  /** BullMQ telemetry (bullmq-otel) when tracing is on: the job carries the trace context to the worker. */
  telemetry?: Telemetry | undefined;
}

/**
 * The facade's side of the queue: add a job, wait for its reply. One Queue and one QueueEvents
 * per process, shared by every request.
 *
 * Job options, and why: `attempts: 1` — a job that throws is not retried by BullMQ, because the
 * consumer owns retries (it resends with the same X-Request-ID, which the PAS transaction makes
 * idempotent) and a blind retry could book after the caller was told the outcome is unknown. A job
 * whose worker dies is not lost: BullMQ's stalled-job check hands it to another worker once (see
 * the worker's lock settings), which finds a committed booking by its request id or, when the
 * caller has stopped waiting (the job's deadline), does nothing.
 */
export class PasQueueClient {
  readonly queue: Queue<StoredJob, StoredReply>;
  private readonly events: QueueEvents;
  private readonly keyring: Keyring;
  private readonly connections: [Redis, Redis];
  private readonly retentionSeconds: number;

  constructor({ redisUrl, prefix, keyring, retentionSeconds, telemetry }: QueueClientOptions) {
    this.keyring = keyring;
    this.retentionSeconds = retentionSeconds;
    this.connections = [redisConnection(redisUrl, 'producer'), redisConnection(redisUrl, 'events')];
    this.queue = new Queue<StoredJob, StoredReply>(BOOKING_QUEUE, { connection: this.connections[0], prefix, telemetry });
    this.events = new QueueEvents(BOOKING_QUEUE, { connection: this.connections[1], prefix });
    // Errors surface per request; without listeners the emitters would throw on connection loss.
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
    // Each request waiting for its reply adds a 'closing' listener to the queue (BullMQ's
    // waitUntilFinished): dozens in flight are normal load, not a leak, so no warning at 11.
    this.queue.setMaxListeners(0);
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async run(data: PasJob, timeoutMs: number): Promise<WorkerReply> {
    let job: Job<StoredJob, StoredReply>;
    // Chosen here, not by BullMQ, so that the seal can bind the job and its reply to it.
    const jobId = randomUUID();
    try {
      job = await withTimeout(
        this.queue.add(data.kind, encodeJob(data, jobId, Date.now() + timeoutMs, this.keyring), {
          jobId,
          attempts: 1,
          // Finished jobs stay a while for the dashboard, then expire (they are sealed anyway).
          removeOnComplete: { age: this.retentionSeconds },
          removeOnFail: { age: this.retentionSeconds },
        }),
        Math.min(timeoutMs, 1000),
      );
    } catch (error) {
      throw new JobError('queue-unavailable', `the queue is unavailable: ${(error as Error).message}`);
    }
    try {
      return decodeReply((await job.waitUntilFinished(this.events, timeoutMs)) as StoredReply, jobId, this.keyring);
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (/timed out/i.test(message)) throw new JobError('timeout', `no reply from a worker within ${timeoutMs} ms`);
      throw new JobError('job-failed', message);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.events.close()]);
    // BullMQ leaves connections it was handed open: they are ours to close.
    for (const connection of this.connections) connection.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
