import { prepareValidation } from '@booking/fhir';
import { serve } from '@hono/node-server';
import pino from 'pino';
import type { Server as HttpServer } from 'node:http';
import { createAdminApp } from './admin.js';
import { gracefulCloser } from './graceful.js';
import { createApp } from './app.js';
import { type FacadeConfig, loadFacadeConfig } from './config.js';
import { createFacadeMetrics } from './observability/metrics.js';
import { redactSecrets } from '@booking/config';
import { logOptions } from '@booking/observability';
import { observeRequests } from './observability/request.js';
import { startTracing } from '@booking/observability';
import { PasQueueClient } from './queue-client.js';
import { clockWarnings, reportClock } from '@booking/queue';
import { AuditLog } from './audit/log.js';
import { serveConsumer } from './security/listener.js';
import { type SecuritySetup, securitySetup } from './security/setup.js';
import { tlsExpiries, tlsServerOptions } from './security/tls.js';
import { ReloadableTls, tlsSourceFiles } from './security/tls-reload.js';

async function main() {
  let config: FacadeConfig;
  let security: SecuritySetup;
  let audit: AuditLog;
  try {
    config = loadFacadeConfig();
    security = securitySetup(config); // TLS material, allow-list, JWT mode: refused at startup if wrong
    audit = new AuditLog(config.AUDIT_DIR); // created now: a path it cannot write is a setting to fix
  } catch (error) {
    // Never a secret's value, whichever check wrote the message (@booking/config's rule).
    console.error(`facade: configuration error: ${redactSecrets((error as Error).message, process.env)}`);
    process.exit(78); // EX_CONFIG
  }
  // First, so the queue and the HTTP server are traced from the start (no-op without an endpoint).
  const tracing = startTracing('booking-facade', config.OTEL_EXPORTER_OTLP_ENDPOINT);
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'facade', pid: process.pid }, ...logOptions });
  // A Redis command rejected during an outage, deep inside a library, must not take the process
  // down with every request it holds; it is logged and the process carries on reconnecting.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection (process kept running)'));
  const queue = new PasQueueClient({
    redis: config,
    prefix: config.QUEUE_PREFIX,
    keyring: config.keyring,
    retentionSeconds: config.JOB_RETENTION_SECONDS,
    telemetry: tracing?.telemetry,
    // Called once TIME has answered, by when `metrics` (below) is set.
    onClock: reportClock(logger, (seconds) => metrics.clockOffset(seconds)),
    clockWarnings: clockWarnings(logger),
  });
  // Certificates and allow-list reload on SIGHUP and when their files change (security/tls-reload.ts).
  const tlsMaterial = security.tls ? new ReloadableTls(security.tls, () => tlsServerOptions(loadFacadeConfig()), logger) : undefined;
  const metrics = createFacadeMetrics([queue.queue], tlsMaterial ? { tlsExpiries: () => tlsExpiries(tlsMaterial.serverOptions) } : {});

  // Request bodies are validated from the first request on without a cold start (definitions, invariants).
  prepareValidation();
  // Set on SIGTERM/SIGINT: from then on the app answers new requests 503 at once (app.ts).
  let stopping = false;
  const app = createApp({
    baseUrl: config.baseUrl,
    basePath: config.basePath,
    providerAsid: config.PROVIDER_ASID,
    clockSkewSeconds: config.JWT_CLOCK_SKEW_SECONDS,
    maxBodyBytes: config.MAX_BODY_BYTES,
    jobTimeoutMs: config.JOB_TIMEOUT_MS,
    publisher: config.PUBLISHER,
    softwareName: config.SOFTWARE_NAME,
    jobs: queue,
    audit,
    jwtVerifier: security.jwt.verify,
    jwtIssuers: security.jwt.issuers,
    tls: security.tls !== undefined,
    onError: (error, log) => (log ?? logger).error({ err: error.message }, 'unhandled error'),
    observe: observeRequests({ logger, metrics, tracing: tracing !== undefined }),
    draining: () => stopping,
  });

  const server = serveConsumer({
    fetch: app.fetch,
    hostname: config.FACADE_HOST,
    port: config.FACADE_PORT,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    keepAliveTimeoutMs: config.FACADE_KEEP_ALIVE_TIMEOUT_MS,
    ...(tlsMaterial && security.tls ? { tls: { serverOptions: security.tls.serverOptions, allowList: () => tlsMaterial.allowList, handshakeTimeoutMs: config.FACADE_TLS_HANDSHAKE_TIMEOUT_MS } } : {}),
    limits: { maxConnections: config.MAX_CONNECTIONS, maxPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS, maxHandshakesPerAddress: config.MAX_PENDING_HANDSHAKES_PER_ADDRESS },
    audit,
    logger,
    metrics,
    onListening: () => logger.info({ baseUrl: config.baseUrl, asid: config.PROVIDER_ASID, jwt: security.jwt.mode, auditDir: config.AUDIT_DIR }, 'facade ready'),
  });
  const adminApp = createAdminApp(queue, {
    registry: metrics.registry,
    metricsToken: config.METRICS_TOKEN,
    dashboard: config.ADMIN_PASSWORD ? { username: config.ADMIN_USERNAME, password: config.ADMIN_PASSWORD, readOnly: config.DASHBOARD_READ_ONLY } : undefined,
    logger,
    audit,
  });
  const admin = serve({ fetch: adminApp.fetch, hostname: config.ADMIN_HOST, port: config.ADMIN_PORT }, (info) => {
    logger.info({ host: info.address, port: info.port, dashboard: config.ADMIN_PASSWORD ? '/dashboard' : 'off (no ADMIN_PASSWORD)', tracing: tracing !== undefined }, 'admin listener ready');
  });

  // A taken port is a deployment mistake worth stopping for, with a line saying which setting.
  const cannotListen = (setting: 'FACADE_PORT' | 'ADMIN_PORT', port: number) => (error: Error) => {
    logger.fatal({ err: error.message, port }, `${setting === 'FACADE_PORT' ? 'consumer' : 'admin'} listener cannot start: set ${setting} to a free port`);
    process.exit(1);
  };
  server.on('error', cannotListen('FACADE_PORT', config.FACADE_PORT));
  admin.on('error', cannotListen('ADMIN_PORT', config.ADMIN_PORT));

  if (tlsMaterial) {
    tlsMaterial.attach(server as unknown as import('node:tls').Server, { maxConnectionAgeMs: config.FACADE_TLS_MAX_CONNECTION_AGE_MS }).watch(tlsSourceFiles(process.env), config.FACADE_TLS_RELOAD_POLL_MS);
    process.on('SIGHUP', () => tlsMaterial.reload('SIGHUP'));
  }

  // Installed before any request can arrive, so every connection and request is tracked.
  const closeConsumer = gracefulCloser(server as unknown as HttpServer);
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new connections, finishing requests in flight, answering new ones 503');
    // Stop accepting, answer every request in flight (each waits at most JOB_TIMEOUT_MS for its job),
    // refuse new ones at once (503), close idle connections, then the rest. A hard deadline guards
    // against a hang: no request queued after SIGTERM can be waiting on it.
    setTimeout(() => {
      logger.error('requests still in flight after the shutdown deadline; exiting');
      process.exit(1);
    }, config.JOB_TIMEOUT_MS + 5000).unref();
    tlsMaterial?.close();
    void closeConsumer().then(() => {
      admin.close();
      // Spans still buffered are flushed before exit; a collector that is down does not hold us.
      void queue.close().then(() => tracing?.shutdown()).then(() => audit.close()).catch(() => {}).then(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error) => {
  console.error(`facade: failed to start: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
