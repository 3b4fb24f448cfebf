import { problem, problems } from '@booking/fhir';
import type { PasJob } from '@booking/queue';
import { Hono, type MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AuditLog } from './audit/log.js';
import { auditTrail } from './audit/middleware.js';
import { gzipAnswers } from './compression.js';
import type { AppEnv } from './env.js';
import { answer } from './answer.js';
import { fhirFormat, sendProblem, sendResource } from './fhir-response.js';
import { ProblemError } from './problem-error.js';
import { INTERACTIONS } from './interactions.js';
import type { JobRunner } from './job-runner.js';
import { metadataStatement } from './metadata.js';
import { interactionCheck, jwtCheck, queryCheck, sspHeaderCheck } from './middleware/checks.js';
import { requestIds } from './middleware/request-ids.js';
import { bodySizeCheck, bodyTypeCheck } from './request-body.js';
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
  /** Runs a job on a worker and waits for its reply (queue-client.ts; a function in in-process tests). */
  jobs: JobRunner;
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
  /** True once the facade is stopping (graceful.ts): requests that arrive then are answered 503 at once. */
  draining?: () => boolean;
}

/** How soon a consumer refused during a drain should try again (another facade, or this one restarted). */
const DRAIN_RETRY_AFTER_SECONDS = 1;

/**
 * A request that arrives while the facade stops (on a connection kept alive from before) would
 * otherwise queue a job and could be cut by the exit before its answer: it is answered 503 at once
 * (transient, Retry-After, Connection: close), before any check and without a job, so sending it
 * again is safe. Requests in flight when the drain began are answered as usual.
 */
function refuseWhileDraining(draining: () => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!draining()) return next();
    c.header('Retry-After', String(DRAIN_RETRY_AFTER_SECONDS));
    c.header('Connection', 'close');
    return sendProblem(c, problem(503, 'transient', 'INTERNAL_SERVER_ERROR', 'The facade is shutting down and did not process this request: send it again'));
  };
}

/**
 * The consumer-facing API: the checks of spec §18 in order (route and verb, GET /Slot's query,
 * JWT, SSP headers, format, body), then the interactions of interactions.ts. Every refusal is a
 * thrown ProblemError, rendered once, in onError.
 */
export function createApp(options: AppOptions) {
  const app = new Hono<AppEnv>();
  app.use('*', requestIds);
  // Outside the audit trail, so the request's log line and duration include the durable write the answer waits for.
  if (options.observe) app.use('*', options.observe);
  // Before every check, so that refusals by any later check are audited too; a failed write is logged with the request's ids.
  if (options.audit) app.use('*', auditTrail({ log: options.audit, basePath: options.basePath, onError: (error, c, record) => options.onError?.(new Error(`AUDIT WRITE FAILED: ${error.message}`), c.get('log')?.child({ interaction: record.interaction, status: record.status })) }));
  app.use('*', securityHeaders(options.tls ?? false));
  // gzip whenever Accept-Encoding allows it, however small the body (spec §3.2); inside requestIds, so its headers land on the compressed response.
  app.use('*', gzipAnswers);
  if (options.draining) app.use('*', refuseWhileDraining(options.draining));
  app.use('*', interactionCheck(options.basePath));
  // GET /Slot's query before the token: the harness answers a bad query 400 even with a bad token.
  app.use('*', queryCheck(options.baseUrl));
  app.use('*', jwtCheck({ audience: options.baseUrl, clockSkewSeconds: options.clockSkewSeconds, issuers: options.jwtIssuers ?? [], verify: options.jwtVerifier }));
  app.use('*', sspHeaderCheck({ providerAsid: options.providerAsid }));
  app.use('*', fhirFormat());
  // The body's media type (415) before its size (413), before it is read and parsed (400, 422): §18 step 5.
  app.use('*', bodyTypeCheck);
  app.use('*', bodySizeCheck(options.maxBodyBytes));

  const statement = metadataStatement(options);
  const deps = { jobs: options.jobs, baseUrl: options.baseUrl, jobTimeoutMs: options.jobTimeoutMs };
  for (const interaction of INTERACTIONS) {
    app.on(interaction.method, `${options.basePath}${interaction.path}`, async (c) => {
      if (!interaction.job) return sendResource(c, 200, statement); // metadata, the facade's own answer
      const job = { ...(await interaction.job(c, options.baseUrl)), traceRequestId: c.get('requestId') } as PasJob;
      return answer(c, deps, job);
    });
  }

  // interactionCheck answers unknown paths first; this is for what slips past it.
  app.notFound((c) => sendProblem(c, problems.notFound(`No such resource or interaction: ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (error instanceof ProblemError) return sendProblem(c, error.problem);
    if (isClientAbort(error, c)) {
      c.get('log')?.info({ err: error.message }, 'client closed the connection mid-request');
      return sendProblem(c, problems.notWellFormed('The request was not received in full: the client closed the connection'));
    }
    options.onError?.(error, c.get('log'));
    return sendProblem(c, problems.internal('Unexpected error in the facade'));
  });
  return app;
}
