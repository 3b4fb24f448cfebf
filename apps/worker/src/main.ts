import { type PasPort, TransientPasError } from '@booking/pas';
import { BOOKING_QUEUE, clockWarnings, QueueClock, redisConnection, reportClock, type StoredJob, type StoredReply } from '@booking/queue';
import { serve } from '@hono/node-server';
import { Worker } from 'bullmq';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { openPas } from './pas-factory.js';
import { createProcessor } from './processor.js';
import { createWorkerAdminApp } from './admin.js';
import { instrumentPas } from './instrumented-pas.js';
import { countOnce } from './observability/count-once.js';
import { createWorkerMetrics } from './observability/metrics.js';
import { createPasObserver } from './observability/pas-observer.js';
import { startReconciler } from './reconciler.js';
import { startTracing } from '@booking/observability';
import { ConfigError } from '@booking/config';

async function main() {
  let config: WorkerConfig;
  try {
    config = loadWorkerConfig();
  } catch (error) {
    console.error(`worker: configuration error: ${(error as Error).message}`);
    process.exit(78); // EX_CONFIG
  }
  // First, so the PAS and the queue are traced from the start (no-op without an endpoint).
  const tracing = startTracing('booking-worker', config.OTEL_EXPORTER_OTLP_ENDPOINT);
  const logger = createLogger(config.LOG_LEVEL);
  // A Redis command rejected during an outage, deep inside a library, must not take the process
  // down with every request it holds; it is logged and the process carries on reconnecting.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection (process kept running)'));
  const metrics = createWorkerMetrics({ reconcileIntervalSeconds: config.RECONCILE_INTERVAL_SECONDS });
  // The adapter reports PAS-side changes and unknown legacy codes to the metrics and logs (PasObserver).
  const pas = instrumentPas(await openPas(config, createPasObserver(metrics, logger)).catch(refuseAConfigError), metrics, tracing !== undefined);
  await pas.ping();
  await refuseAnIncompleteSchema(pas, logger);

  const connection = redisConnection(config, 'worker');
  // Job deadlines are on Redis's clock (the facade stamps them on it): measured over the worker's
  // own connection (its blocking reads are on a duplicate), and awaited before the first job.
  const clock = new QueueClock(connection, { ...clockWarnings(logger), onMeasured: reportClock(logger, metrics.clockOffset) }).start(connection);
  const worker = new Worker<StoredJob, StoredReply>(
    BOOKING_QUEUE,
    createProcessor({
      now: () => clock.now(),
      pas,
      logger,
      keyring: config.keyring,
      localPatientIdSystem: config.LOCAL_PATIENT_ID_SYSTEM,
      scheduleIdSystem: config.SCHEDULE_ID_SYSTEM,
      maxRetries: config.PAS_MAX_RETRIES,
      writeRetryBudgetMs: config.PAS_WRITE_RETRY_BUDGET_MS,
      readRetryBudgetMs: config.PAS_READ_RETRY_BUDGET_MS,
      onReply: metrics.reply,
      onPasRetry: metrics.pasRetry,
      claimCount: countOnce(connection, config.QUEUE_PREFIX),
    }),
    {
      connection,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      autorun: false,
      telemetry: tracing?.telemetry,
      // A job whose worker died is handed to another worker once its lock lapses (stalled-job
      // check); re-running it is safe (idempotent by request id) and bounded by its deadline.
      lockDuration: 15000,
      stalledInterval: 5000,
      maxStalledCount: 1,
    },
  );
  worker.on('error', (error) => logger.error({ err: error.message }, 'worker error'));
  worker.on('completed', (job) => metrics.finished(job, false));
  worker.on('failed', (job) => job && metrics.finished(job, true));

  // Health and metrics; started before the worker runs, so readiness can say Redis is missing.
  const admin = serve(
    { fetch: createWorkerAdminApp({ worker, pas, clock, registry: metrics.registry, metricsToken: config.METRICS_TOKEN, logger }).fetch, hostname: config.WORKER_ADMIN_HOST, port: config.WORKER_ADMIN_PORT },
    (info) => logger.info({ host: info.address, port: info.port }, 'admin listener ready'),
  );
  admin.on('error', (error) => {
    // A taken port is a deployment mistake worth stopping for, with a line saying which setting.
    logger.fatal({ err: error.message, port: config.WORKER_ADMIN_PORT }, 'admin listener cannot start: set WORKER_ADMIN_PORT to a free port');
    process.exit(1);
  });

  const reconciler = startReconciler({
    pas,
    redis: config,
    prefix: config.QUEUE_PREFIX,
    settings: { intervalSeconds: config.RECONCILE_INTERVAL_SECONDS, maxPerSweep: config.RECONCILE_MAX_PER_SWEEP, pageSize: config.RECONCILE_PAGE_SIZE, pauseMs: config.RECONCILE_PAUSE_MS },
    logger: logger.child({ component: 'reconciler' }),
    metrics,
    retryPolicy: { maxRetries: config.PAS_MAX_RETRIES, budgetMs: config.PAS_WRITE_RETRY_BUDGET_MS },
    telemetry: tracing?.telemetry,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing the jobs in hand');
    // No job in hand can rightly take longer than its PAS retry budget; past that (e.g. BullMQ
    // waiting for a Redis that is gone) the worker exits anyway: an unfinished transaction rolls
    // back, and a job left in Redis is taken by another worker once its lock lapses.
    setTimeout(() => {
      logger.error('still stopping after the shutdown deadline (PAS_WRITE_RETRY_BUDGET_MS + 5 s); exiting');
      process.exit(1);
    }, config.PAS_WRITE_RETRY_BUDGET_MS + 5000).unref();
    clock.stop();
    await Promise.all([worker.close(), reconciler.close()]);
    await pas.close();
    admin.close();
    await tracing?.shutdown().catch(() => {});
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  logger.info({ pas: pas.kind, concurrency: config.WORKER_CONCURRENCY, queue: BOOKING_QUEUE }, 'worker ready');
  await clock.measured;
  await worker.run();
}

/** A setting found wrong only when used (PAS_SQLITE_PATH): one line naming it, exit 78, as for the others. */
function refuseAConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`worker: configuration error: ${error.message}`);
  process.exit(78); // EX_CONFIG
}

/**
 * A release started before its schema script or grants were applied (docs/install.md §6) would
 * take jobs and answer each one 500; it stops instead, naming what is missing. A PAS that cannot
 * be asked right now (busy, failing over) is not a reason to stay down: that is logged and the
 * worker starts, as it would have before this check.
 */
async function refuseAnIncompleteSchema(pas: PasPort, logger: Logger): Promise<void> {
  let lacking: string[];
  try {
    lacking = await pas.checkSchema();
  } catch (error) {
    if (!(error instanceof TransientPasError)) throw error;
    logger.warn({ err: error.message }, 'could not check the PAS schema now; starting anyway');
    return;
  }
  if (lacking.length === 0) return;
  logger.fatal({ lacking }, 'the PAS lacks tables, columns or grants this worker uses, or takes no writes (read-only: a readable secondary, or mid-failover): run docker/pas/02-booking-schema.sql and apply the grants of docs/install.md (§6 when upgrading), or point PAS_MSSQL_URL at the primary; `doctor` lists them');
  process.exit(78); // EX_CONFIG: restarting will not help until the PAS is changed
}

main().catch((error) => {
  console.error(`worker: failed to start: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
