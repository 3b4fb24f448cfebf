import { setTimeout as sleep } from 'node:timers/promises';
import { TransientPasError } from '@booking/pas';

/**
 * Retries PAS calls that failed for a transient reason (deadlock victim, lock timeout, busy file,
 * an Azure SQL reconfiguration or failover, a lost connection) with jittered exponential back-off,
 * within a time budget shared by every PAS call of one job. Writes get a long budget (Azure SQL
 * reconfigurations take up to about a minute) and that is safe: every write is one transaction
 * that either committed, and the next attempt's replay check finds its X-Request-ID, or rolled
 * back wholly. Reads get a short one: an answer is worth less the longer it takes.
 */

export interface RetryPolicy {
  /** At most this many retries (0: none). */
  maxRetries: number;
  /** No retry starts once this long has passed since the job's first PAS call, in ms. */
  budgetMs: number;
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
 * end on the budget, so a fault that clears within it is still met by one more attempt.
 */
export function createPasRetry(policy: RetryPolicy, onRetry?: (attempt: number, error: Error, waitMs: number) => void, clock: RetryClock = systemClock): PasRetry {
  let started: number | undefined;
  let retries = 0;
  return async <T>(run: () => Promise<T>): Promise<T> => {
    started ??= clock.now();
    for (;;) {
      try {
        return await run();
      } catch (error) {
        if (!(error instanceof TransientPasError) || retries >= policy.maxRetries) throw error;
        const left = started + policy.budgetMs - clock.now();
        if (left <= 0) throw error;
        retries++;
        const wait = Math.min(backoffMs(retries, policy, clock.random()), left);
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
