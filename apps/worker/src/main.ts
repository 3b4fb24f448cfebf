import { BOOKING_QUEUE, redisConnection, type StoredJob, type StoredReply } from '@booking/queue';
import { Worker } from 'bullmq';
import { loadWorkerConfig } from './config.js';
import { createLogger } from './logger.js';
import { openPas } from './pas-factory.js';
import { createProcessor } from './processor.js';

async function main() {
  let config;
  try {
    config = loadWorkerConfig();
  } catch (error) {
    console.error(`worker: configuration error: ${(error as Error).message}`);
    process.exit(78); // EX_CONFIG
  }
  const logger = createLogger(config.LOG_LEVEL);
  const pas = await openPas(config);
  await pas.ping();

  const worker = new Worker<StoredJob, StoredReply>(
    BOOKING_QUEUE,
    createProcessor({ pas, logger, keyring: config.keyring, localPatientIdSystem: config.LOCAL_PATIENT_ID_SYSTEM, maxRetries: config.PAS_MAX_RETRIES }),
    {
      connection: redisConnection(config.REDIS_URL, 'worker'),
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      autorun: false,
      // A job whose worker died is handed to another worker once its lock lapses (stalled-job
      // check); re-running it is safe (idempotent by request id) and bounded by its deadline.
      lockDuration: 15000,
      stalledInterval: 5000,
      maxStalledCount: 1,
    },
  );
  worker.on('error', (error) => logger.error({ err: error.message }, 'worker error'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing the jobs in hand');
    await worker.close();
    await pas.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  logger.info({ pas: pas.kind, concurrency: config.WORKER_CONCURRENCY, queue: BOOKING_QUEUE }, 'worker ready');
  await worker.run();
}

main().catch((error) => {
  console.error(`worker: failed to start: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
