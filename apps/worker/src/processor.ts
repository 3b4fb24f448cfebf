import { type Problem, problems } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import { decodeJob, encodeReply, type Keyring, type PasJob, type StoredJob, type StoredReply, type WorkerReply } from '@booking/queue';
import type { Job } from 'bullmq';
import { handleBook } from './handlers/book.js';
import { handleCancel } from './handlers/cancel.js';
import { handleRead } from './handlers/read.js';
import { handleSearchAppointment } from './handlers/search-appointment.js';
import { handleSearchSlot } from './handlers/search-slot.js';
import type { Logger } from './logger.js';
import { createPasRetry, DEADLINE_MARGIN_MS, DeadlinePassedError, isWriteJob, systemClock } from './retry.js';

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
  /**
   * The clock job deadlines are on: Redis's, as this process estimates it (@booking/queue's
   * QueueClock), the one the facade stamped them with; this host's own clock may be seconds off.
   * Date.now when absent (tests of one process).
   */
  now?: () => number;
  /**
   * Observability hooks (observability/metrics.ts): each reply the worker gives, with why the job
   * was not (wholly) run when it was not (its deadline passed; it could not be decoded), and each
   * PAS retry. `kind` is the job's clear kind, as Redis holds it.
   */
  onReply?: (kind: string, reply: WorkerReply, unrun?: UnrunReason, countedBefore?: boolean) => void;
  onPasRetry?: () => void;
  /**
   * Claims the count of a job's booking or cancellation (observability/count-once.ts): true for the
   * first run of the job to reach it, false for a later run (`countedBefore`: counted as replayed).
   * Without it every run counts its write outcome (a re-run may be counted twice).
   */
  claimCount?: (jobId: string) => Promise<boolean>;
}

/** Why a job got an answer without being run to its end. */
export type UnrunReason = 'expired' | 'undecodable';

/** What the consumer is told when the job's time ran out: fixed text (the cause is in the worker's log, never sent out through the SSP). */
export function timeRanOut(kind: string | undefined): string {
  return isWriteJob(kind)
    ? "The PAS could not complete the request before its time ran out, and nothing is written after that; the outcome is unknown. Retry with the same X-Request-ID to learn it."
    : "The PAS could not answer before the request's time ran out. Retry the request.";
}

/** A job BullMQ has moved to active before: a worker took it and stopped (killed, or stalled) without finishing. */
function startedBefore(job: Job): boolean {
  return (job.attemptsStarted ?? 0) > 1 || (job.stalledCounter ?? 0) > 0;
}

/**
 * Runs one job. Business outcomes (422, 409, 404 …) are replies, not failures, so BullMQ never
 * retries them; only an unexpected error fails the job and the facade answers 500. A job that
 * cannot be decoded, or whose caller stopped waiting (its deadline passed — e.g. a stalled job
 * picked up again after a worker died), is answered without touching the PAS. Retries of transient
 * PAS failures stop at that deadline too, and a write whose transaction begins (or is ready to
 * commit) after it rolls back: past it the consumer was told "outcome unknown" and may have booked
 * elsewhere, so a late write could make a second appointment (retry.ts, WriteDeadline).
 */
export function createProcessor(deps: ProcessorDeps) {
  const now = deps.now ?? Date.now;
  const retryClock = { ...systemClock, now };
  return async (job: Job<StoredJob, StoredReply>): Promise<StoredReply> => {
    const stored = job.data;
    const kind = stored?.kind;
    const log = deps.logger.child({ jobId: job.id, kind, requestId: stored?.traceRequestId });
    const seal = (reply: WorkerReply) => encodeReply(reply, String(job.id), deps.keyring);
    const unrun = (reason: UnrunReason, problem: Problem) => {
      const reply: WorkerReply = { type: 'problem', problem };
      deps.onReply?.(kind, reply, reason);
      return seal(reply);
    };
    let data: PasJob;
    try {
      data = decodeJob(stored, String(job.id), deps.keyring); // bound to this job id, kind and deadline
    } catch (error) {
      log.error({ err: (error as Error).message }, 'job cannot be decoded');
      return unrun('undecodable', problems.internal('The job could not be decoded by the worker; nothing was done'));
    }
    if (now() > stored.deadline) {
      if (startedBefore(job)) {
        // A worker ran it before and stopped (SIGKILL, a stall) perhaps after its COMMIT.
        log.warn({ attemptsStarted: job.attemptsStarted, stalledCounter: job.stalledCounter }, "job past its deadline on a re-run after its worker stopped: not run again; the first run's outcome is unknown");
        const advice = isWriteJob(kind) ? 'retry with the same X-Request-ID to learn it' : 'retry the request';
        return unrun('expired', problems.outcomeUnknown(`The job was not run again after its worker stopped, as its time had run out; the first run's outcome is unknown: ${advice}`));
      }
      log.warn('job past its deadline: nobody waits for it, nothing done');
      return unrun('expired', problems.outcomeUnknown('The job expired before a worker could run it; nothing was done'));
    }
    const budgetMs = isWriteJob(data?.kind) ? deps.writeRetryBudgetMs : deps.readRetryBudgetMs;
    const retry = createPasRetry({ maxRetries: deps.maxRetries, budgetMs, deadline: stored.deadline }, (attempt, error, waitMs) => {
      deps.onPasRetry?.();
      log.warn({ attempt, waitMs, err: error.message }, 'transient PAS failure, retrying');
    }, retryClock);
    const started = performance.now();
    try {
      // A write may commit only until DEADLINE_MARGIN_MS before the consumer's deadline: the COMMIT's
      // round trip, the reply, and the error of this worker's and the facade's estimates of Redis's
      // clock (each at most half a TIME round trip: see queue-client.ts) take some of what is left.
      // The deadline is read on that clock all the way to the check before COMMIT (`now`).
      const reply = await dispatch(data, String(job.id), { ...deps, retry, deadline: stored.deadline - DEADLINE_MARGIN_MS, now });
      // A booking or cancellation made (or found made by this job): counted once per job, whichever run gets here first.
      const countedBefore = isWriteJob(kind) && reply.type === 'resource' && deps.claimCount ? !(await deps.claimCount(String(job.id))) : false;
      deps.onReply?.(kind, reply, undefined, countedBefore);
      if (reply.type === 'resource' && reply.replayed) {
        log.info({ appointmentId: reply.id, versionId: reply.versionId, countedBefore }, "replay of work already done: this job's write had committed (an earlier attempt whose answer was lost, or an earlier run); same answer, nothing written");
      }
      log.info({ reply: reply.type, status: reply.type === 'problem' ? reply.problem.status : reply.type === 'resource' ? reply.status : 200, ms: Math.round(performance.now() - started) }, 'job done');
      return seal(reply);
    } catch (error) {
      if (error instanceof DeadlinePassedError) {
        // The driver's words (host, port, database, lock details) stay here; the consumer gets fixed text.
        log.warn({ err: error.message, ms: Math.round(performance.now() - started) }, 'job reached its deadline: no further PAS attempt');
        return unrun('expired', problems.outcomeUnknown(timeRanOut(kind)));
      }
      log.error({ err: (error as Error).message }, 'job failed');
      throw error;
    }
  };
}

type Deps = ProcessorDeps & { retry: <T>(run: () => Promise<T>) => Promise<T>; deadline: number; now: () => number };

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
