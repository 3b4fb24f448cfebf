import { problems } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import type { PasJob, WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import { handleBook } from './handlers/book.js';
import { handleCancel } from './handlers/cancel.js';
import { handleRead } from './handlers/read.js';
import { handleSearchSlot } from './handlers/search-slot.js';
import type { Logger } from './logger.js';
import { withPasRetries } from './retry.js';

export interface ProcessorDeps {
  pas: PasPort;
  logger: Logger;
  localPatientIdSystem: string;
  maxRetries: number;
}

/**
 * Runs one job. Business outcomes (422, 409, 404 …) are replies, not failures, so BullMQ never
 * retries them; only an unexpected error fails the job and the facade answers 500.
 */
export function createProcessor(deps: ProcessorDeps) {
  return async (job: Job<PasJob, WorkerReply>): Promise<WorkerReply> => {
    const data = job.data;
    const log = deps.logger.child({ jobId: job.id, kind: data?.kind, requestId: data?.traceRequestId });
    const retry = <T>(run: () => Promise<T>) =>
      withPasRetries(deps.maxRetries, run, (attempt, error) => log.warn({ attempt, err: error.message }, 'transient PAS failure, retrying'));
    const started = performance.now();
    try {
      const reply = await dispatch(job, { ...deps, retry });
      log.info({ reply: reply.type, status: reply.type === 'problem' ? reply.problem.status : reply.type === 'resource' ? reply.status : 200, ms: Math.round(performance.now() - started) }, 'job done');
      return reply;
    } catch (error) {
      log.error({ err: (error as Error).message }, 'job failed');
      throw error;
    }
  };
}

type Deps = ProcessorDeps & { retry: <T>(run: () => Promise<T>) => Promise<T> };

async function dispatch(job: Job<PasJob, WorkerReply>, deps: Deps): Promise<WorkerReply> {
  const data = job.data;
  switch (data?.kind) {
    case 'book':
      return handleBook(data, String(job.id), deps);
    case 'read':
      return handleRead(data, deps);
    case 'cancel':
      return handleCancel(data, String(job.id), deps);
    case 'search-slot':
      return handleSearchSlot(data, deps);
    case 'noop':
      return { type: 'empty' };
    default:
      // A job this worker cannot decode fails cleanly with an answer, not a crash or a retry.
      return { type: 'problem', problem: problems.internal(`Unknown job kind ${JSON.stringify((data as { kind?: unknown } | undefined)?.kind ?? null)}`) };
  }
}
