import type { PasJob, WorkerReply } from '@booking/queue';

/**
 * What the consumer API needs from the queue: run one job, wait for its reply. PasQueueClient
 * (queue-client.ts) is the real one; in-process tests pass a function.
 */
export interface JobRunner {
  run(job: PasJob, timeoutMs: number): Promise<WorkerReply>;
}

/**
 * Why a job gave no usable reply: the facade turns each into a 500 OperationOutcome. A reply that
 * came but does not open (`reply-unreadable`: sealed with a key this facade lacks, or tampered
 * with) means the worker did the job, a booking included.
 */
export const JOB_FAILURES = ['queue-unavailable', 'timeout', 'job-failed', 'reply-unreadable'] as const;
export type JobFailure = (typeof JOB_FAILURES)[number];

export class JobError extends Error {
  constructor(
    readonly reason: JobFailure,
    message: string,
  ) {
    super(message);
  }
}
