import { ConfigError, loadConfig, redisSettings, setting, withRedisLogin, z } from '@booking/config';
import { DEFAULT_SCHEDULE_ID_SYSTEM } from '@booking/fhir';
import { checkHospitalNumberFormat, DEFAULT_STATUS_MAPPING_TEXT, isKnownTimeZone, parseStatusMapping, type StatusMapping } from '@booking/pas';
import { mssqlConfig } from '@booking/pas/mssql/connection';
import { type Keyring, keyringFromSettings } from '@booking/queue';

/** Worker settings: the only process with PAS credentials. */
export const workerSchema = z.object({
  // REDIS_URL, or Redis Sentinel (REDIS_SENTINELS …): the same settings as the facade's.
  ...redisSettings,
  QUEUE_PREFIX: setting.string('a Redis key prefix for the queues').default('booking'),
  PAS_ADAPTER: setting.oneOf(['sqlite', 'mssql'], 'sqlite or mssql').default('sqlite'),
  PAS_SQLITE_PATH: setting.string('a file path for the embedded demo PAS').default('data/demo-pas.sqlite'),
  PAS_MSSQL_URL: setting.string('a SQL Server connection string (mssql://user:password@host:1433/database or ADO form)').optional(),
  PAS_SQLITE_BUSY_TIMEOUT_MS: setting.int('how long a SQLite PAS write waits for another process\'s lock, in ms', 0, 60000).default(2000),
  PAS_TIMEZONE: z.string().min(1).refine(isKnownTimeZone, 'unknown time zone').describe('an IANA time zone of the PAS local datetimes').default('Europe/London'),
  PAS_APPOINTMENT_STATUS_MAP: setting
    .string('legacy APPT_STATUS codes as CODE=status pairs (booked, arrived, fulfilled, noshow, cancelled[:patient|:hospital]) separated by commas')
    .default(DEFAULT_STATUS_MAPPING_TEXT),
  PAS_TEMP_HOSPITAL_NUMBER_PREFIX: z.string().regex(/^[A-Za-z0-9]{0,9}$/, 'letters and digits only, at most 9').describe('the prefix of the temporary hospital numbers a booking registers').default('T'),
  PAS_TEMP_HOSPITAL_NUMBER_WIDTH: setting.int('the total width of a temporary hospital number, prefix included (PATIENT.HOSP_NO is CHAR(10))', 5, 10).default(10),
  PAS_MSSQL_LOCK_TIMEOUT_MS: setting.int('SET LOCK_TIMEOUT of each SQL Server PAS transaction, in ms (a longer wait fails as error 1222 and is retried)', 100, 60000).default(5000),
  LOCAL_PATIENT_ID_SYSTEM: setting.url('the identifier system URI of the PAS hospital number').default('https://fhir.example-trust.nhs.uk/Id/hospital-number'),
  SCHEDULE_ID_SYSTEM: setting.url('the identifier system URI of Schedule.identifier, whose value is the PAS clinic code (an absolute URI the trust owns)').default(DEFAULT_SCHEDULE_ID_SYSTEM),
  WORKER_CONCURRENCY: setting.int('jobs run at once per worker process', 1, 256).default(8),
  PAS_MAX_RETRIES: setting.int('at most this many retries of a transient PAS failure (deadlock, busy, failover) per job, within the retry budgets', 0, 100).default(30),
  PAS_WRITE_RETRY_BUDGET_MS: setting.int('how long a booking or cancel keeps retrying a transient PAS failure, in ms (Azure SQL failovers take up to a minute), never past the job deadline (JOB_TIMEOUT_MS); a stopping worker exits at the latest 5 s after it', 0, 300000).default(60000),
  PAS_READ_RETRY_BUDGET_MS: setting.int('how long a read or search keeps retrying a transient PAS failure, in ms', 0, 300000).default(10000),
  QUEUE_ENCRYPTION_KEYS: setting.string('kid:base64key[,kid:base64key…] (32-byte AES-256-GCM keys) sealing job payloads and replies in Redis'),
  QUEUE_ENCRYPTION_KEY_ID: setting.string('the key id (kid) replies are sealed with').default('k1'),
  WORKER_ADMIN_HOST: setting.string('the worker admin listen address (health, metrics)').default('127.0.0.1'),
  WORKER_ADMIN_PORT: setting.int('the worker admin TCP port (0 = any free port)', 0, 65535).default(9091),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').describe('the bearer token Prometheus sends to /metrics; required when WORKER_ADMIN_HOST is not loopback').optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting.httpUrl('an OTLP/HTTP collector base URL such as http://otel-collector:4318; unset = no tracing').optional(),
  // The background reconciler (reconciler.ts): records PAS-side changes as versions when nobody reads.
  RECONCILE_INTERVAL_SECONDS: setting.int('seconds between reconciler sweeps of upcoming appointments (0 = this worker runs none)', 0, 86400).default(60),
  RECONCILE_MAX_PER_SWEEP: setting.int('appointments one reconciler sweep checks at most (the next sweep carries on from there)', 1, 1000000).default(5000),
  RECONCILE_PAGE_SIZE: setting.int('appointments the reconciler checks per PAS query', 1, 1000).default(200),
  RECONCILE_PAUSE_MS: setting.int('pause between the reconciler\'s PAS queries, in ms (spreads its load on a busy PAS)', 0, 60000).default(0),
  LOG_LEVEL: setting.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'a pino level').default('info'),
});

export type WorkerConfig = z.infer<typeof workerSchema> & { keyring: Keyring; statusMapping: StatusMapping };

export function loadWorkerConfig(env = process.env): WorkerConfig {
  const config = loadConfig(workerSchema, env);
  const loopback = ['localhost', '::1'].includes(config.WORKER_ADMIN_HOST) || config.WORKER_ADMIN_HOST.startsWith('127.');
  if (!loopback && !config.METRICS_TOKEN) {
    throw new Error(`METRICS_TOKEN: required when the admin listener is not on loopback (WORKER_ADMIN_HOST=${config.WORKER_ADMIN_HOST})`);
  }
  if (config.PAS_ADAPTER === 'mssql' && !config.PAS_MSSQL_URL) {
    throw new Error('PAS_MSSQL_URL: required when PAS_ADAPTER=mssql (expected a SQL Server connection string)');
  }
  if (config.PAS_ADAPTER === 'mssql' && config.PAS_MSSQL_URL) {
    // Parsed now, as the adapter will parse it, so a bad string is a configuration error at startup.
    try {
      mssqlConfig(config.PAS_MSSQL_URL);
    } catch (error) {
      const message = (error as Error).message;
      throw new ConfigError(message.startsWith('PAS_MSSQL_URL: ') ? message : 'PAS_MSSQL_URL: not a valid SQL Server connection string (expected mssql://user:password@host:1433/database or the ADO form)');
    }
  }
  let statusMapping: StatusMapping;
  try {
    statusMapping = parseStatusMapping(config.PAS_APPOINTMENT_STATUS_MAP);
  } catch (error) {
    throw new ConfigError(`PAS_APPOINTMENT_STATUS_MAP: ${(error as Error).message}`);
  }
  try {
    checkHospitalNumberFormat({ prefix: config.PAS_TEMP_HOSPITAL_NUMBER_PREFIX, width: config.PAS_TEMP_HOSPITAL_NUMBER_WIDTH });
  } catch (error) {
    throw new ConfigError(`PAS_TEMP_HOSPITAL_NUMBER_WIDTH: ${(error as Error).message}`);
  }
  return { ...withRedisLogin(config), statusMapping, keyring: keyringFromSettings(config.QUEUE_ENCRYPTION_KEYS, config.QUEUE_ENCRYPTION_KEY_ID) };
}
