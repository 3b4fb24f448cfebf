import { BOOKING_QUEUE, type redisConnection } from '@booking/queue';

/**
 * How long a job's "counted" mark lives: far longer than any run of the job can last (its deadline is
 * at most JOB_TIMEOUT_MS away, and a re-run past it writes nothing), so that even a worker frozen
 * for hours after its COMMIT still finds the mark when it wakes. It outlives JOB_RETENTION_SECONDS
 * on purpose; docs/operations.md says so, and test/queue-at-rest.test.ts checks it is all that does.
 */
export const COUNTED_TTL_SECONDS = 86_400;
/** Past this the count does not wait for Redis (it queues commands while disconnected). */
const CLAIM_TIMEOUT_MS = 2000;

/**
 * A booking or cancellation is counted once per job, by whichever run reaches its outcome first:
 * the run's own write, a write an earlier attempt of the same run committed before its answer was
 * lost (a transient error after COMMIT, retried), or the write of a first run that stopped before
 * it replied (the stalled re-run). Runs after it count `replayed`. The mark is one small key per
 * write job, holding no patient data.
 *
 * Resolves true when this run claims the count, false when an earlier run had it. When Redis fails
 * or does not answer in time: true (a possible over-count, never a silent booking).
 */
export function countOnce(redis: Pick<ReturnType<typeof redisConnection>, 'set'>, prefix: string, timeoutMs = CLAIM_TIMEOUT_MS): (jobId: string) => Promise<boolean> {
  return async (jobId) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const set = redis.set(`${prefix}:${BOOKING_QUEUE}:counted:${jobId}`, '1', 'EX', COUNTED_TTL_SECONDS, 'NX');
      return (await Promise.race([set, timeout])) !== null;
    } catch {
      return true;
    } finally {
      clearTimeout(timer);
    }
  };
}
