import { problems } from '@booking/fhir';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/log.js';
import { auditTrail } from './audit/middleware.js';
import type { AppEnv } from './env.js';
import { fhirFormat, sendProblem } from './fhir-response.js';
import { interactionCheck, jwtCheck, sspHeaderCheck } from './middleware/checks.js';
import { requestIds } from './middleware/request-ids.js';
import type { PasQueueClient } from './queue-client.js';
import { appointmentRoutes } from './routes/appointment.js';
import { metadataRoutes } from './routes/metadata.js';
import { slotRoutes } from './routes/slot.js';
import type { JwtVerifier } from './security/jwt.js';
import { isClientAbort, securityHeaders } from './security/setup.js';

export interface AppOptions {
  baseUrl: string;
  basePath: string;
  providerAsid: string;
  clockSkewSeconds: number;
  maxBodyBytes: number;
  jobTimeoutMs: number;
  publisher: string;
  softwareName: string;
  queue: PasQueueClient;
  /** Told of an unhandled error; `log` is the request's logger, which carries its ids. */
  onError?: (error: Error, log?: Logger) => void;
  /** Request logging, metrics and the server span (observability/request.ts). */
  observe?: MiddlewareHandler<AppEnv>;
  /** The audit trail (audit/); every request, refused ones included, leaves one record. */
  audit?: AuditLog;
  /** Signed-token verification (security/jwt.ts); unsigned SSP tokens when absent. */
  jwtVerifier?: JwtVerifier;
  /** Accepted JWT issuers (any when empty). */
  jwtIssuers?: readonly string[];
  /** True when served over TLS: adds HSTS. */
  tls?: boolean;
}

/** The consumer-facing API: the checks of spec §18 in order, then the interactions. */
export function createApp(options: AppOptions) {
  const app = new Hono<AppEnv>();
  // First, so that refusals by any later check are audited too.
  if (options.audit) app.use('*', auditTrail({ log: options.audit, basePath: options.basePath, onError: (error) => options.onError?.(new Error(`AUDIT WRITE FAILED: ${error.message}`)) }));
  app.use('*', requestIds);
  app.use('*', securityHeaders(options.tls ?? false));
  if (options.observe) app.use('*', options.observe);
  // gzip whenever Accept-Encoding allows it, however small the body (spec §3.2); inside requestIds, so its headers land on the compressed response.
  app.use('*', compress({ encoding: 'gzip', threshold: 0 }));
  app.use('*', bodyLimit({
    maxSize: options.maxBodyBytes,
    // The rest of the body is left unread and the socket closed soon after: say so, or a keep-alive client reuses it and fails.
    onError: (c) => {
      c.header('Connection', 'close');
      return sendProblem(c, problems.payloadTooLarge(`The body exceeds ${options.maxBodyBytes} bytes`));
    },
  }));
  app.use('*', interactionCheck(options.basePath));
  app.use('*', jwtCheck({ audience: options.baseUrl, clockSkewSeconds: options.clockSkewSeconds, issuers: options.jwtIssuers ?? [], verify: options.jwtVerifier }));
  app.use('*', sspHeaderCheck({ providerAsid: options.providerAsid }));
  app.use('*', fhirFormat({ maxBodyBytes: options.maxBodyBytes }));

  app.route(options.basePath, metadataRoutes({ baseUrl: options.baseUrl, publisher: options.publisher, softwareName: options.softwareName }));
  const queued = { queue: options.queue, baseUrl: options.baseUrl, jobTimeoutMs: options.jobTimeoutMs };
  app.route(options.basePath, appointmentRoutes(queued));
  app.route(options.basePath, slotRoutes(queued));

  app.notFound((c) => sendProblem(c, problems.notFound(`No such resource or interaction: ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (isClientAbort(error, c)) {
      c.get('log')?.info({ err: error.message }, 'client closed the connection mid-request');
      return sendProblem(c, problems.notWellFormed('The request was not received in full: the client closed the connection'));
    }
    options.onError?.(error, c.get('log'));
    return sendProblem(c, problems.internal('Unexpected error in the facade'));
  });
  return app;
}
