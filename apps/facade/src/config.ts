import { ConfigError, loadConfig, redisSettings, setting, withRedisLogin, z } from '@booking/config';
import { type Keyring, keyringFromSettings } from '@booking/queue';
import { securitySettings } from './security/settings.js';

/** The longest JOB_TIMEOUT_MS a facade may have: what any facade sharing the queue may wait for a job (queue-client.ts, removeExpired). */
export const MAX_JOB_TIMEOUT_MS = 120_000;

/** Facade settings. The facade holds no PAS credentials: it only talks to Redis. */
export const facadeSchema = z.object({
  // REDIS_URL, or Redis Sentinel (REDIS_SENTINELS …): the same settings as the workers'.
  ...redisSettings,
  QUEUE_PREFIX: setting.string('a Redis key prefix for the queues').default('booking'),
  FACADE_HOST: setting.string('the consumer-facing listen address').default('127.0.0.1'),
  FACADE_PORT: setting.int('the consumer-facing TCP port', 0, 65535).default(8080),
  FACADE_KEEP_ALIVE_TIMEOUT_MS: setting
    .int('how long an idle consumer connection is kept open for its next request, in ms; keep it above the idle timeout of the SSP or proxy in front, so that it never reuses a connection the facade is closing', 1000, 3600000)
    .default(65000),
  FACADE_BASE_URL: setting
    .httpUrl('the absolute service root, e.g. https://provider.example.nhs.uk/STU3/1 (no trailing slash, query or fragment); also the JWT audience')
    // Routes are matched on its path and JWTs on the whole string: a query or fragment matches neither.
    .refine((url) => !/[?#]/.test(url), 'must have no query (?…) or fragment (#…)')
    .optional(),
  PROVIDER_ASID: z.string().regex(/^\d{12}$/, 'must be 12 digits').describe('this provider\u2019s 12-digit ASID, checked against Ssp-To').default('200000000359'),
  ADMIN_HOST: setting.string('the admin listen address (health, metrics)').default('127.0.0.1'),
  ADMIN_PORT: setting.int('the admin TCP port (0 = any free port)', 0, 65535).default(9090),
  JOB_TIMEOUT_MS: setting.int('how long a request waits for its job, in ms', 100, MAX_JOB_TIMEOUT_MS).default(10000),
  JWT_CLOCK_SKEW_SECONDS: setting.int('tolerated clock skew for iat/exp, in seconds', 0, 600).default(60),
  MAX_BODY_BYTES: setting.int('largest accepted request body, in bytes', 1024, 50 * 1024 * 1024).default(1024 * 1024),
  PUBLISHER: setting.string('the publisher named in the CapabilityStatement (the trust or supplier)').default('NHS Booking Facade (open source)'),
  SOFTWARE_NAME: setting.string('the software name in the CapabilityStatement').default('nhs-booking-facade'),
  QUEUE_ENCRYPTION_KEYS: setting.string('kid:base64key[,kid:base64key…] (32-byte AES-256-GCM keys) sealing job payloads and replies in Redis'),
  QUEUE_ENCRYPTION_KEY_ID: setting.string('the key id (kid) new jobs are sealed with').default('k1'),
  JOB_RETENTION_SECONDS: setting
    .int('how long finished jobs, their sealed replies and their events stay in Redis, in seconds (removed at most a minute later); at least JOB_TIMEOUT_MS + 5 s', 0, 7 * 24 * 3600)
    .default(3600),
  ADMIN_USERNAME: setting.string('the queue dashboard user name (HTTP Basic)').default('admin'),
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').describe('the queue dashboard password (HTTP Basic); unset = no dashboard').optional(),
  DASHBOARD_READ_ONLY: setting.bool('true to make the queue dashboard look-only (no retry, remove, pause)').default(false),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').describe('the bearer token Prometheus sends to /metrics; required when ADMIN_HOST is not loopback').optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting.httpUrl('an OTLP/HTTP collector base URL such as http://otel-collector:4318; unset = no tracing').optional(),
  LOG_LEVEL: setting.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'a pino level').default('info'),
  // TLS, JWT signing, header limit, audit directory (security/settings.ts).
  ...securitySettings,
});

export type FacadeConfig = z.infer<typeof facadeSchema> & { baseUrl: string; basePath: string; keyring: Keyring };

export function loadFacadeConfig(env = process.env, boundPort?: number): FacadeConfig {
  const config = loadConfig(facadeSchema, env);
  // Metrics say how busy the trust is; off loopback they are for Prometheus only.
  if (!isLoopback(config.ADMIN_HOST) && !config.METRICS_TOKEN) {
    throw new ConfigError(`METRICS_TOKEN: required when the admin listener is not on loopback (ADMIN_HOST=${config.ADMIN_HOST})`);
  }
  // Expired jobs and events are removed while requests may still wait for theirs (queue-client.ts,
  // removeExpired): the retention must outlast every wait, plus the last look at the job and the
  // clock difference between hosts that `doctor` tolerates.
  if (config.JOB_RETENTION_SECONDS * 1000 < config.JOB_TIMEOUT_MS + RETENTION_MARGIN_MS) {
    throw new ConfigError(
      `JOB_RETENTION_SECONDS: ${config.JOB_RETENTION_SECONDS} s is shorter than JOB_TIMEOUT_MS (${config.JOB_TIMEOUT_MS} ms) + ${RETENTION_MARGIN_MS / 1000} s: a reply could be removed while its request still waits for it; give at least ${Math.ceil((config.JOB_TIMEOUT_MS + RETENTION_MARGIN_MS) / 1000)}`,
    );
  }
  // An IPv6 listen address (::, ::1) goes in brackets in a URL.
  const host = config.FACADE_HOST.includes(':') && !config.FACADE_HOST.startsWith('[') ? `[${config.FACADE_HOST}]` : config.FACADE_HOST;
  const baseUrl = (config.FACADE_BASE_URL ?? `${config.FACADE_TLS === 'off' ? 'http' : 'https'}://${host}:${boundPort ?? config.FACADE_PORT}/STU3/1`).replace(/\/+$/, '');
  const keyring = keyringFromSettings(config.QUEUE_ENCRYPTION_KEYS, config.QUEUE_ENCRYPTION_KEY_ID);
  let basePath: string;
  try {
    basePath = new URL(baseUrl).pathname.replace(/\/+$/, '');
  } catch {
    // FACADE_BASE_URL is a checked URL: only a listen address can make the default one invalid.
    throw new ConfigError(`FACADE_HOST: ${JSON.stringify(config.FACADE_HOST)} gives no valid default base URL (expected a host name or an IP address; or set FACADE_BASE_URL)`);
  }
  return { ...withRedisLogin(config), baseUrl, basePath, keyring };
}

/** How much longer than JOB_TIMEOUT_MS a job and its events must stay (see loadFacadeConfig). */
const RETENTION_MARGIN_MS = 5000;

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
