import { problems } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import { decodeJob, encodeReply, type Keyring, type PasJob, type StoredJob, type StoredReply, type WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import { handleBook } from './handlers/book.js';
import { handleCancel } from './handlers/cancel.js';
import { handleRead } from './handlers/read.js';
import { handleSearchAppointment } from './handlers/search-appointment.js';
import { handleSearchSlot } from './handlers/search-slot.js';
import type { Logger } from './logger.js';
import { createPasRetry, DeadlinePassedError, isWriteJob } from './retry.js';

export interface ProcessorDeps {
  pas: PasPort;
  logger: Logger;
  keyring: Keyring;
  localPatientIdSystem: string;
  /** Schedule.identifier.system in slot searches (SCHEDULE_ID_SYSTEM). */
  scheduleIdSystem: string;
  maxRetries: number;
  /** Retry budgets (ms) of one job's PAS calls: bookings and cancels, and reads (retry.ts). */
  writeRetryBudgetMs: number;
  readRetryBudgetMs: number;
  /** Observability hooks (observability/metrics.ts): each plain reply, each PAS retry. */
  onReply?: (job: PasJob, reply: WorkerReply) => void;
  onPasRetry?: () => void;
}

/**
 * Runs one job. Business outcomes (422, 409, 404 …) are replies, not failures, so BullMQ never
 * retries them; only an unexpected error fails the job and the facade answers 500. A job that
 * cannot be decoded, or whose caller stopped waiting (its deadline passed — e.g. a stalled job
 * picked up again after a worker died), is answered without touching the PAS. Retries of transient
 * PAS failures stop at that deadline too: past it the consumer was told "outcome unknown" and may
 * have booked elsewhere, so a late attempt could make a second appointment (retry.ts).
 */
export function createProcessor(deps: ProcessorDeps) {
  return async (job: Job<StoredJob, StoredReply>): Promise<StoredReply> => {
    const stored = job.data;
    const log = deps.logger.child({ jobId: job.id, kind: stored?.kind, requestId: stored?.traceRequestId });
    const seal = (reply: WorkerReply) => encodeReply(reply, String(job.id), deps.keyring);
    let data: PasJob;
    try {
      data = decodeJob(stored, String(job.id), deps.keyring); // bound to this job id, kind and deadline
    } catch (error) {
      log.error({ err: (error as Error).message }, 'job cannot be decoded');
      return seal({ type: 'problem', problem: problems.internal('The job could not be decoded by the worker; nothing was done') });
    }
    if (Date.now() > stored.deadline) {
      log.warn('job past its deadline: nobody waits for it, nothing done');
      return seal({ type: 'problem', problem: problems.outcomeUnknown('The job expired before a worker could run it; nothing was done') });
    }
    const budgetMs = isWriteJob(data?.kind) ? deps.writeRetryBudgetMs : deps.readRetryBudgetMs;
    const retry = createPasRetry({ maxRetries: deps.maxRetries, budgetMs, deadline: stored.deadline }, (attempt, error, waitMs) => {
      deps.onPasRetry?.();
      log.warn({ attempt, waitMs, err: error.message }, 'transient PAS failure, retrying');
    });
    const started = performance.now();
    try {
      const reply = await dispatch(data, String(job.id), { ...deps, retry });
      deps.onReply?.(data, reply);
      log.info({ reply: reply.type, status: reply.type === 'problem' ? reply.problem.status : reply.type === 'resource' ? reply.status : 200, ms: Math.round(performance.now() - started) }, 'job done');
      return seal(reply);
    } catch (error) {
      if (error instanceof DeadlinePassedError) {
        log.warn({ err: error.message }, 'job reached its deadline: no further PAS attempt');
        return seal({ type: 'problem', problem: problems.outcomeUnknown(`The PAS kept failing transiently until the request's time ran out; the worker stopped trying (${error.lastError?.message ?? 'no detail'})`) });
      }
      log.error({ err: (error as Error).message }, 'job failed');
      throw error;
    }
  };
}

type Deps = ProcessorDeps & { retry: <T>(run: () => Promise<T>) => Promise<T> };

async function dispatch(data: PasJob, jobId: string, deps: Deps): Promise<WorkerReply> {
  switch (data?.kind) {
    case 'book':
      return handleBook(data, jobId, deps);
    case 'read':
      return handleRead(data, deps);
    case 'cancel':
      return handleCancel(data, jobId, deps);
    case 'search-slot':
      return handleSearchSlot(data, deps);
    case 'search-appointment':
      return handleSearchAppointment(data, deps);
    case 'noop':
      return { type: 'empty' };
    default:
      // A job this worker cannot decode fails cleanly with an answer, not a crash or a retry.
      return { type: 'problem', problem: problems.internal(`Unknown job kind ${JSON.stringify((data as { kind?: unknown } | undefined)?.kind ?? null)}`) };
  }
}
