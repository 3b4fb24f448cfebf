import { setTimeout as sleep } from 'node:timers/promises';
import { TransientPasError, WriteDeadlinePassedError } from '@booking/pas';

/**
 * Retries PAS calls that failed for a transient reason (deadlock victim, lock timeout, busy file,
 * an Azure SQL reconfiguration or failover, a lost connection) with jittered exponential back-off,
 * within a time budget shared by every PAS call of one job. Writes get a long budget (Azure SQL
 * reconfigurations take up to about a minute) and that is safe: every write is one transaction
 * that either committed, and the next attempt's replay check finds its X-Request-ID, or rolled
 * back wholly. Reads get a short one: an answer is worth less the longer it takes.
 *
 * Both are cut short by the job's deadline: once it has passed the facade has answered "outcome
 * unknown", the consumer may well have booked elsewhere under a new X-Request-ID, and an attempt
 * that landed now would make a second appointment. So no attempt starts after it; and since an
 * attempt's transaction may begin much later than the call (queued behind the connection, the
 * pool or a lock), the PAS checks the deadline again inside it (WriteDeadline) and rolls back.
 */

export interface RetryPolicy {
  /** At most this many retries (0: none). */
  maxRetries: number;
  /** No retry starts once this long has passed since the job's first PAS call, in ms. */
  budgetMs: number;
  /** The job's deadline (epoch ms): no attempt starts at or after it, whatever budget is left. */
  deadline?: number;
  /** The first wait (before jitter); each further wait doubles, up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Time, for tests to replace: no real waiting there. */
export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** In [0, 1). */
  random(): number;
}

export const systemClock: RetryClock = { now: () => Date.now(), sleep: (ms) => sleep(ms), random: Math.random };

export type PasRetry = <T>(run: () => Promise<T>) => Promise<T>;

/**
 * Thrown instead of starting a PAS attempt once the job's deadline has passed, or when the PAS
 * rolled a write back for it (`rolledBack`); carries the last transient error if any.
 */
export class DeadlinePassedError extends Error {
  constructor(
    readonly lastError?: Error,
    readonly rolledBack = false,
  ) {
    const transient = lastError ? ` (the PAS had been failing transiently: ${lastError.message})` : '';
    super(
      rolledBack
        ? `the job's deadline passed before the write's PAS transaction began or could commit; it was rolled back${transient}`
        : `the job's deadline passed${lastError ? ` while the PAS was failing transiently (${lastError.message})` : ''}; no further PAS attempt was made`,
    );
    this.name = 'DeadlinePassedError';
  }
}

/** A retry starts at least this long before the job's deadline: the attempt and its reply need time too. */
export const DEADLINE_MARGIN_MS = 500;
const BASE_DELAY_MS = 50;
const MAX_DELAY_MS = 5000;

/** The wait before retry number `attempt` (1-based): exponential, capped, jittered ±50 %. */
export function backoffMs(attempt: number, policy: RetryPolicy, random: number): number {
  const exponential = Math.min(policy.maxDelayMs ?? MAX_DELAY_MS, (policy.baseDelayMs ?? BASE_DELAY_MS) * 2 ** (attempt - 1));
  return Math.round(exponential * (0.5 + random));
}

/**
 * One job's retry wrapper. The budget starts at the first call and is shared by all calls, so a
 * cancel (read, replay look-up, write) cannot spend three budgets. The last wait is shortened to
 * end on the budget, so a fault that clears within it is still met by one more attempt. Every
 * attempt, the first of each call included, is checked against the deadline before it starts.
 */
export function createPasRetry(policy: RetryPolicy, onRetry?: (attempt: number, error: Error, waitMs: number) => void, clock: RetryClock = systemClock): PasRetry {
  let started: number | undefined;
  let retries = 0;
  return async <T>(run: () => Promise<T>): Promise<T> => {
    started ??= clock.now();
    let lastError: Error | undefined;
    for (;;) {
      if (policy.deadline !== undefined && clock.now() >= policy.deadline) throw new DeadlinePassedError(lastError);
      try {
        return await run();
      } catch (error) {
        // The write's transaction began (or was ready to commit) past the deadline and rolled back.
        if (error instanceof WriteDeadlinePassedError) throw new DeadlinePassedError(lastError, true);
        if (!(error instanceof TransientPasError) || retries >= policy.maxRetries) throw error;
        lastError = error;
        const now = clock.now();
        const left = started + policy.budgetMs - now;
        if (left <= 0) throw error;
        // The last wait before the deadline is shortened, as the budget's is, so that a fault that
        // clears in time is met by one more attempt, started far enough ahead of the deadline to
        // finish and reply; when there is no such time left, give up now, so the reply comes at once.
        const latestStart = policy.deadline === undefined ? Number.POSITIVE_INFINITY : policy.deadline - DEADLINE_MARGIN_MS;
        const wait = Math.min(backoffMs(retries + 1, policy, clock.random()), left, latestStart - now);
        if (wait <= 0) throw new DeadlinePassedError(error);
        retries++;
        onRetry?.(retries, error, wait);
        await clock.sleep(wait);
      }
    }
  };
}

/** Bookings and cancels write; everything else only reads. */
export function isWriteJob(kind: string | undefined): boolean {
  return kind === 'book' || kind === 'cancel';
}
