import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PasPort } from '@booking/pas';
import { type RedisTarget, redisConnection } from '@booking/queue';
import { Queue, type Telemetry, Worker } from 'bullmq';
import type { Logger } from './logger.js';
import type { SweepOutcome, WorkerMetrics } from './observability/metrics.js';
import { createPasRetry, type RetryPolicy } from './retry.js';

/**
 * The background reconciler: sweeps the product's not-yet-ended appointments on a schedule, so a
 * change made on the PAS's own screens becomes a new version even when nobody reads it.
 *
 * Scheduling: every worker upserts the same BullMQ job scheduler (one id, so one schedule however
 * many workers start) on a queue of its own, consumed with concurrency 1. BullMQ adds the next
 * iteration as soon as one becomes active, so a sweep that outlasts the interval could meet the
 * next one on another worker; a Redis lock (SET NX PX with a random token, kept alive while the
 * sweep runs, released only by its holder) makes the second one a counted no-op ("skipped").
 * One sweep at a time across all workers.
 *
 * Bounded work: a sweep checks at most maxPerSweep appointments in pages (keyset on the
 * appointment id, ReconcileResult.next); where it stopped is kept in Redis (written only by the
 * lock holder) and the next sweep carries on from there, back to the start once the end is reached.
 * Jobs carry no data at all: no patient data in Redis.
 */

export const RECONCILE_QUEUE = 'pas-reconcile';
export const RECONCILE_SCHEDULER_ID = 'pas-reconcile-sweep';
/** How long a sweep lock outlives a worker that died holding it. */
const LOCK_TTL_MS = 30000;

export interface ReconcilerSettings {
  intervalSeconds: number;
  maxPerSweep: number;
  pageSize: number;
  pauseMs: number;
}

export interface ReconcilerDeps {
  pas: Pick<PasPort, 'reconcile'>;
  /** The worker's whole Redis target (Sentinels, master name, credentials, TLS CA), not only REDIS_URL. */
  redis: RedisTarget | string;
  prefix: string;
  settings: ReconcilerSettings;
  logger: Logger;
  metrics?: Pick<WorkerMetrics, 'sweep' | 'pasRetry'>;
  /** Transient PAS failures are retried per page, within this policy (a page records versions: a write). */
  retryPolicy: RetryPolicy;
  telemetry?: Telemetry;
}

export interface SweepReport {
  outcome: SweepOutcome;
  checked: number;
  versioned: number;
  /** Appointments that could not be composed (logged by the PAS observer with their id) and were passed over. */
  unreadable?: number;
  /** Epoch ms when the lock was taken and when the sweep ended (before the lock was released). */
  startedAt?: number;
  finishedAt?: number;
}

/** Lua: each of these acts only while the caller still holds the lock (KEYS[1] = lock, ARGV[1] = token). */
const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const SET_CURSOR = `if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('del', KEYS[2]) else redis.call('set', KEYS[2], ARGV[2]) end
return 1`;

/** One sweep, run under the cross-worker lock; separate from BullMQ so it can be tested on its own. */
export function createSweeper(deps: Omit<ReconcilerDeps, 'redis' | 'telemetry'> & { redis: ReturnType<typeof redisConnection> }) {
  const { redis, pas, settings, logger } = deps;
  const lockKey = `${deps.prefix}:${RECONCILE_QUEUE}:lock`;
  const cursorKey = `${deps.prefix}:${RECONCILE_QUEUE}:cursor`;

  let stopping = false;
  const sweep = async (): Promise<SweepReport> => {
    const token = randomUUID();
    if ((await redis.set(lockKey, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      deps.metrics?.sweep('skipped');
      logger.debug('reconcile sweep skipped: another worker is sweeping');
      return { outcome: 'skipped', checked: 0, versioned: 0 };
    }
    const startedAt = Date.now();
    const keepAlive = setInterval(() => {
      redis.eval(EXTEND, 1, lockKey, token, LOCK_TTL_MS).catch(() => undefined);
    }, LOCK_TTL_MS / 3);
    let checked = 0;
    let versioned = 0;
    let unreadable = 0;
    try {
      const now = new Date(startedAt).toISOString();
      let after = (await redis.get(cursorKey)) ?? undefined;
      const from = after;
      for (;;) {
        const limit = Math.min(settings.pageSize, settings.maxPerSweep - checked);
        const retry = createPasRetry(deps.retryPolicy, (attempt, error, waitMs) => {
          deps.metrics?.pasRetry();
          logger.warn({ attempt, waitMs, err: error.message }, 'transient PAS failure in a reconcile page, retrying');
        });
        const page = await retry(() => pas.reconcile({ limit, now, ...(after !== undefined ? { after } : {}) }));
        checked += page.checked;
        versioned += page.versioned;
        unreadable += page.unreadable ?? 0;
        // A page that did not move on would loop for ever: treat it as the end.
        const next = page.next !== undefined && page.next !== after ? page.next : undefined;
        await redis.eval(SET_CURSOR, 2, lockKey, cursorKey, token, next ?? '');
        after = next;
        // Stopping (SIGTERM): end after this page; the next sweep, on any worker, carries on.
        if (after === undefined || checked >= settings.maxPerSweep || stopping) break;
        if (settings.pauseMs > 0) await sleep(settings.pauseMs);
      }
      const outcome: SweepOutcome = after === undefined ? 'complete' : 'partial';
      const finishedAt = Date.now();
      deps.metrics?.sweep(outcome, (finishedAt - startedAt) / 1000, checked);
      // Ids only (no patient data); startedAt/finishedAt let a test prove sweeps never overlap.
      logger.info({ outcome, checked, versioned, unreadable, ms: finishedAt - startedAt, startedAt, finishedAt, resumedAfter: from }, 'reconcile sweep done');
      return { outcome, checked, versioned, unreadable, startedAt, finishedAt };
    } catch (error) {
      deps.metrics?.sweep('failed');
      logger.error({ err: (error as Error).message, checked, versioned }, 'reconcile sweep failed (the next one carries on from the last page done)');
      throw error;
    } finally {
      clearInterval(keepAlive);
      await redis.eval(RELEASE, 1, lockKey, token).catch(() => undefined);
    }
  };
  return Object.assign(sweep, {
    /** Makes a running sweep end after its current page. */
    stop() {
      stopping = true;
    },
  });
}

/**
 * Starts this worker's part of the reconciler: upserts the shared job scheduler and consumes its
 * queue one job at a time. With an interval of 0 this worker takes no part (the schedule other
 * workers upserted stays as it is).
 */
export function startReconciler(deps: ReconcilerDeps): { close(): Promise<void> } {
  const { settings, logger } = deps;
  if (settings.intervalSeconds === 0) {
    logger.info('reconciler off in this worker (RECONCILE_INTERVAL_SECONDS=0)');
    return { close: async () => undefined };
  }
  const redis = redisConnection(deps.redis, 'worker');
  const workerConnection = redisConnection(deps.redis, 'worker');
  const queue = new Queue(RECONCILE_QUEUE, { connection: redis, prefix: deps.prefix, telemetry: deps.telemetry });
  // A Redis outage is logged once per attempt by the workers; the queue's copy of it would only repeat it.
  queue.on('error', () => undefined);
  const sweep = createSweeper({ ...deps, redis });
  const worker = new Worker(RECONCILE_QUEUE, async () => sweep(), {
    connection: workerConnection,
    prefix: deps.prefix,
    concurrency: 1,
    telemetry: deps.telemetry,
    // Longer than a page could take; BullMQ renews it while the sweep runs.
    lockDuration: LOCK_TTL_MS,
  });
  worker.on('error', (error) => logger.error({ err: error.message }, 'reconcile worker error'));
  // The same scheduler id from every worker: one schedule; the last worker started sets its interval.
  // Not awaited: with Redis down at start-up the booking worker must not wait for it (the command
  // is queued until Redis is back).
  const schedule = () =>
    queue.upsertJobScheduler(RECONCILE_SCHEDULER_ID, { every: settings.intervalSeconds * 1000 }, { name: 'sweep', data: {}, opts: { removeOnComplete: { count: 20 }, removeOnFail: { count: 20 } } });
  const scheduledAtStart = schedule()
    .then(() => logger.info({ intervalSeconds: settings.intervalSeconds, maxPerSweep: settings.maxPerSweep, pageSize: settings.pageSize }, 'reconciler scheduled'))
    .catch((error: Error) => logger.error({ err: error.message }, 'reconciler could not be scheduled (other workers may still schedule it)'));
  // Redis can lose the schedule while this worker runs (restarted without persistence, FLUSHALL, a
  // new volume): then no sweep would ever run again. After every reconnection and once an interval,
  // the schedule is put back if it is missing (only then: an existing one keeps its interval and
  // its next run). Two workers putting it back at once write the same id: still one schedule.
  let checking = false;
  const ensureScheduled = async () => {
    if (checking) return;
    checking = true;
    try {
      await scheduledAtStart;
      if (await queue.getJobScheduler(RECONCILE_SCHEDULER_ID)) return;
      await schedule();
      logger.warn({ intervalSeconds: settings.intervalSeconds }, 'reconcile schedule was missing from Redis (restarted empty or flushed?): scheduled again');
    } catch (error) {
      logger.debug({ err: (error as Error).message }, 'reconcile schedule check failed (retried on the next check)');
    } finally {
      checking = false;
    }
  };
  redis.on('ready', () => void ensureScheduled());
  const scheduleCheck = setInterval(() => void ensureScheduled(), settings.intervalSeconds * 1000);
  scheduleCheck.unref();
  return {
    async close() {
      clearInterval(scheduleCheck);
      sweep.stop();
      await worker.close();
      await queue.close();
      redis.disconnect();
      workerConnection.disconnect();
    },
  };
}
