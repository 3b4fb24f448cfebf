import type { PasJob, WorkerReply } from '@booking/queue';

/**
 * What the consumer API needs from the queue: run one job, wait for its reply. PasQueueClient
 * (queue-client.ts) is the real one; in-process tests pass a function.
 */
export interface JobRunner {
  run(job: PasJob, timeoutMs: number): Promise<WorkerReply>;
}

/** Why a job gave no reply: the facade turns each into a 500 OperationOutcome. */
export class JobError extends Error {
  constructor(
    readonly reason: 'queue-unavailable' | 'timeout' | 'job-failed',
    message: string,
  ) {
    super(message);
  }
}
