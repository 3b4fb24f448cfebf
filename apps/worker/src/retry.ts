import { setTimeout as sleep } from 'node:timers/promises';
import { TransientPasError } from '@booking/pas';

/**
 * Retries a PAS transaction that failed for a transient reason (deadlock victim, lock timeout,
 * busy file) with jittered exponential backoff and a cap. Safe because every write is one
 * transaction that either committed (and its request id is then found) or rolled back wholly.
 */
export async function withPasRetries<T>(maxRetries: number, run: () => Promise<T>, onRetry?: (attempt: number, error: Error) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof TransientPasError) || attempt >= maxRetries) throw error;
      onRetry?.(attempt + 1, error);
      await sleep(Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random()));
    }
  }
}
