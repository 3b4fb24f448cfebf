import { randomUUID } from 'node:crypto';
import { BOOKING_QUEUE, type PasJob, redisConnection, type WorkerReply } from '@booking/queue';
import { Queue, QueueEvents } from 'bullmq';

/** Why a job gave no reply: the facade turns each into a 500 OperationOutcome. */
export class JobError extends Error {
  constructor(
    readonly reason: 'queue-unavailable' | 'timeout' | 'job-failed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The facade's side of the queue: add a job, wait for its reply. One Queue and one QueueEvents
 * per process, shared by every request.
 */
export class PasQueueClient {
  readonly queue: Queue<PasJob, WorkerReply>;
  private readonly events: QueueEvents;

  constructor(redisUrl: string, prefix: string) {
    this.queue = new Queue<PasJob, WorkerReply>(BOOKING_QUEUE, { connection: redisConnection(redisUrl, 'producer'), prefix });
    this.events = new QueueEvents(BOOKING_QUEUE, { connection: redisConnection(redisUrl, 'events'), prefix });
    // Errors surface per request; without listeners the emitters would throw on connection loss.
    this.queue.on('error', () => {});
    this.events.on('error', () => {});
  }

  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async run(data: PasJob, timeoutMs: number): Promise<WorkerReply> {
    let job;
    try {
      job = await withTimeout(
        this.queue.add(data.kind, data, {
          jobId: randomUUID(),
          // Completed jobs stay a while for the dashboard, then go: results can hold patient data.
          removeOnComplete: { age: 3600, count: 10000 },
          removeOnFail: { age: 24 * 3600 },
        }),
        Math.min(timeoutMs, 1000),
      );
    } catch (error) {
      throw new JobError('queue-unavailable', `the queue is unavailable: ${(error as Error).message}`);
    }
    try {
      return (await job.waitUntilFinished(this.events, timeoutMs)) as WorkerReply;
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (/timed out/i.test(message)) throw new JobError('timeout', `no reply from a worker within ${timeoutMs} ms`);
      throw new JobError('job-failed', message);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.queue.close(), this.events.close()]);
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
