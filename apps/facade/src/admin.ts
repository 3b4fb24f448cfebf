import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { clockCheck, failureClass, queueCheck, readinessLog } from '@booking/observability';
import { getConnInfo } from '@hono/node-server/conninfo';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { Counter, type Registry } from 'prom-client';
import type { AuditLog } from './audit/log.js';
import type { PasQueueClient } from './queue-client.js';
import { LoginThrottle } from './security/login-throttle.js';

export interface AdminOptions {
  /** Prometheus registry served at /metrics. */
  registry: Registry;
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /** The queue dashboard; absent (no ADMIN_PASSWORD) → not served. */
  dashboard?: { username: string; password: string; readOnly: boolean } | undefined;
  /** Every queue of the product, for the dashboard. */
  queues?: Queue[];
  /** Where failed dashboard logins are logged and audited. */
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  audit?: AuditLog;
  /** Failed logins per client and their back-off (a default one when absent). */
  loginThrottle?: LoginThrottle;
}

/**
 * The admin listener's pages may not be framed (clickjacking a "retry" or "remove" button) and may
 * load nothing from elsewhere: Bull Board's own scripts, styles and API only. Its web fonts (from
 * Google) are refused on purpose — an admin page should not tell a third party who looks at it —
 * and the UI falls back to local fonts. Its one inline script is JSON data, not code.
 */
export const ADMIN_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export const DASHBOARD_PATH = '/dashboard';

/**
 * The admin listener (never the consumer-facing one). Health is unauthenticated: kubelet and
 * Docker probes carry no secrets, and the answers say only ready or not and which dependency is
 * missing. /metrics (counts and timings, no patient data) takes a bearer token when one is
 * configured. The queue dashboard shows and can act on jobs, so it always needs the admin
 * credentials. Readiness needs Redis, its clock measured, at least one live worker and the booking
 * queue not paused.
 */
export function createAdminApp(queue: PasQueueClient, options?: AdminOptions) {
  // Not strict: /dashboard/ and /dashboard are the same page, as a person types either.
  const admin = new Hono({ strict: false });
  // Plain HTTP on an internal address: no HSTS, which would mean nothing here.
  admin.use('*', secureHeaders({ xFrameOptions: 'DENY', contentSecurityPolicy: ADMIN_CSP, strictTransportSecurity: false }));
  admin.get('/health/live', (c) => c.json({ status: 'ok' }));
  // Failures are answered by their class only (health.ts in @booking/observability); the message is logged on change.
  const logCheck = readinessLog(options?.logger);
  admin.get('/health/ready', async (c) => {
    const checks: Record<string, string> = {};
    try {
      const client = await withDeadline(queue.queue.client, 1000);
      await withDeadline((client as unknown as { ping(): Promise<string> }).ping(), 1000);
      checks.redis = 'ok';
      logCheck('redis', 'ok');
    } catch (error) {
      checks.redis = `unreachable: ${failureClass(error)}`;
      logCheck('redis', checks.redis, error);
    }
    // Job deadlines are stamped on Redis's clock: until it is measured (TIME) no job is added.
    checks.clock = clockCheck(queue.clock);
    logCheck('clock', checks.clock, queue.clock.lastError);
    if (checks.redis === 'ok') {
      const [workers, paused] = await Promise.allSettled([withDeadline(queue.queue.getWorkersCount(), 1000), withDeadline(queue.queue.isPaused(), 1000)]);
      checks.workers = workers.status === 'fulfilled' ? (workers.value > 0 ? `ok (${workers.value})` : 'none connected') : `cannot count: ${cannotCount(workers.reason)}`;
      logCheck('workers', checks.workers, workers.status === 'rejected' ? workers.reason : undefined);
      // A paused queue (queue dashboard) takes no job: every booking would wait JOB_TIMEOUT_MS, then 500.
      checks.queue = paused.status === 'fulfilled' ? queueCheck(paused.value) : `cannot read: ${failureClass(paused.reason)}`;
      logCheck('queue', checks.queue, paused.status === 'rejected' ? paused.reason : undefined);
    }
    const ready = checks.redis === 'ok' && checks.clock === 'ok' && checks.workers?.startsWith('ok') && checks.queue === 'ok';
    return c.json({ status: ready ? 'ready' : 'not ready', checks }, ready ? 200 : 503);
  });
  if (!options) return admin;

  const { registry, metricsToken, dashboard } = options;
  if (metricsToken) admin.use('/metrics', bearerAuth({ token: metricsToken }));
  admin.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));

  if (dashboard) {
    const failures = new Counter({
      name: 'booking_admin_login_failures_total',
      help: 'Queue dashboard logins refused: wrong credentials (checked), or refused unchecked while the client is locked out',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    const login = dashboardLogin(dashboard, { throttle: options.loginThrottle ?? new LoginThrottle(), failures, logger: options.logger, audit: options.audit });
    admin.use(DASHBOARD_PATH, login);
    admin.use(`${DASHBOARD_PATH}/*`, login);
    const record = recordDashboardActions(dashboard.username, { logger: options.logger, audit: options.audit });
    admin.use(DASHBOARD_PATH, record);
    admin.use(`${DASHBOARD_PATH}/*`, record);
    admin.route(DASHBOARD_PATH, queueDashboard(options.queues ?? [queue.queue], dashboard.readOnly));
  } else {
    admin.all(`${DASHBOARD_PATH}/*`, (c) => c.text('The queue dashboard is off: set ADMIN_PASSWORD to turn it on.', 404));
  }
  return admin;
}

/** The client's address on the admin listener (what failed logins are counted per). */
function clientOf(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * HTTP Basic for the dashboard, with failed logins throttled per client (security/login-throttle.ts):
 * each checked failure is logged, counted and audited; while a client is locked out its attempts
 * are answered 429 with Retry-After without being checked. A request with no credentials at all
 * (a browser's first visit) is a challenge, not a failure.
 */
function dashboardLogin(
  dashboard: { username: string; password: string },
  deps: { throttle: LoginThrottle; failures: Counter<'reason'>; logger?: AdminOptions['logger']; audit?: AuditLog | undefined },
): MiddlewareHandler {
  const check = basicAuth({ username: dashboard.username, password: dashboard.password, realm: 'Booking facade admin', onAuthSuccess: (c) => deps.throttle.succeeded(clientOf(c)) });
  return async (c, next) => {
    const client = clientOf(c);
    const wait = deps.throttle.lockedFor(client);
    if (wait > 0) {
      deps.failures.inc({ reason: 'locked-out' });
      return c.text('Too many failed logins from this address: try again later.', 429, { 'Retry-After': String(Math.ceil(wait / 1000)) });
    }
    try {
      await check(c, next);
    } catch (error) {
      if (error instanceof HTTPException && error.status === 401 && c.req.header('Authorization') !== undefined) {
        const { failures, lockMs } = deps.throttle.failed(client);
        deps.failures.inc({ reason: 'bad-credentials' });
        deps.logger?.warn({ clientAddress: client, failures, lockedOutSeconds: lockMs / 1000, path: c.req.path }, 'queue dashboard login failed');
        void deps.audit
          ?.write({ time: new Date().toISOString(), event: 'admin-login-failed', interaction: 'dashboard', method: c.req.method, path: c.req.path, status: 401, outcome: lockMs > 0 ? 'LOCKED_OUT' : 'BAD_CREDENTIALS', clientAddress: client })
          .catch((e: Error) => deps.logger?.error({ err: e.message }, 'AUDIT WRITE FAILED'));
      }
      throw error;
    }
  };
}

/** Bull Board reads with GET; every other method acts on a queue or a job. */
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every dashboard request that acts (pause, resume, clean, empty, retry, remove, obliterate, ...)
 * is logged at warn and audited (`admin-action`) with the dashboard user, the action (the path
 * under /dashboard/api, e.g. `queues/pas-requests/pause`) and the answer's status: pausing the
 * booking queue stops every booking, and the people on call must be able to see who did it.
 * Runs after the login check, so the user is the one the credentials were checked for; refused
 * actions (read-only dashboard, cross-site) are recorded too.
 *
 * A browser resends HTTP Basic credentials on its own, to any site's request, and Bull Board
 * reads a body as JSON whatever its Content-Type: a page elsewhere could post a form (enctype
 * text/plain) to `…/add` and queue jobs with the admin's credentials. So an action is refused 403
 * unless it is plainly the dashboard's own (crossSiteRefusal).
 */
function recordDashboardActions(user: string, deps: { logger?: AdminOptions['logger']; audit?: AuditLog | undefined }): MiddlewareHandler {
  return async (c, next) => {
    if (READS.has(c.req.method)) return next();
    const action = c.req.path.startsWith(`${DASHBOARD_PATH}/api/`) ? c.req.path.slice(`${DASHBOARD_PATH}/api/`.length) : c.req.path.slice(DASHBOARD_PATH.length + 1);
    const refusal = crossSiteRefusal(c);
    let status: number | undefined;
    try {
      if (refusal) {
        status = 403;
        return c.text(`Refused: ${refusal}. Dashboard actions are taken from the dashboard's own page.`, 403);
      }
      await next();
      status = c.res.status;
    } finally {
      const clientAddress = clientOf(c);
      deps.logger?.warn({ dashboardUser: user, action, method: c.req.method, status: status ?? null, clientAddress, ...(refusal ? { refused: refusal } : {}) }, 'queue dashboard action');
      await deps.audit
        ?.write({
          time: new Date().toISOString(),
          event: 'admin-action',
          interaction: 'dashboard',
          method: c.req.method,
          path: c.req.path,
          status: status ?? null,
          outcome: action,
          ...(refusal ? { reason: `CROSS_SITE_REFUSED: ${refusal}` } : {}),
          adminUser: user,
          clientAddress,
        })
        .catch((e: Error) => deps.logger?.error({ err: e.message }, 'AUDIT WRITE FAILED'));
    }
  };
}

/**
 * Why an action on the dashboard is not its own page's (undefined when it is). The page sends
 * `fetch` with a JSON body (or none) from the same origin, so a browser marks it with an Origin
 * naming this host (or Sec-Fetch-Site: same-origin). A body of another type (a form's), an Origin of
 * another host (or "null"), or a browser's Sec-Fetch-Site other than same-origin is refused.
 * A request with neither Origin nor Sec-Fetch-Site does not come from a browser page (curl, a
 * script): it is let through, its credentials being its own. Behind a proxy, the host the browser
 * saw may be in X-Forwarded-Host, which no page elsewhere can set on a browser's request.
 */
export function crossSiteRefusal(c: Context): string | undefined {
  const type = c.req.header('Content-Type');
  const hasBody = Number(c.req.header('Content-Length') ?? 0) > 0 || c.req.header('Transfer-Encoding') !== undefined;
  const mediaType = type?.split(';')[0]?.trim().toLowerCase();
  if ((type !== undefined || hasBody) && mediaType !== 'application/json') return `a body of type "${(mediaType ?? 'none').slice(0, 60)}", not application/json`;
  const origin = c.req.header('Origin');
  const fetchSite = c.req.header('Sec-Fetch-Site')?.toLowerCase();
  if (origin === undefined) {
    return fetchSite === undefined || fetchSite === 'same-origin' ? undefined : `Sec-Fetch-Site: ${fetchSite} without Origin`;
  }
  let originHost: string;
  try {
    originHost = new URL(origin).host.toLowerCase();
  } catch {
    return 'an Origin that is not a URL';
  }
  const hosts = [c.req.header('Host'), c.req.header('X-Forwarded-Host')?.split(',')[0]?.trim()].filter((h): h is string => !!h).map((h) => h.toLowerCase());
  return hosts.includes(originHost) ? undefined : 'a request from another origin';
}

/**
 * Bull Board for every queue of the product. Job payloads and replies hold patient demographics
 * (sealed in Redis, and still never worth showing), so the dashboard shows only each job's ids.
 */
function queueDashboard(queues: Queue[], readOnly: boolean) {
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(DASHBOARD_PATH);
  const adapters = queues.map((q) => {
    const adapter = new BullMQAdapter(q, { readOnlyMode: readOnly, allowRetries: !readOnly, displayName: `${q.name} (prefix ${q.opts.prefix ?? 'bull'})` });
    adapter.setFormatter('data', redactJobData);
    adapter.setFormatter('returnValue', redactReply);
    return adapter;
  });
  createBullBoard({ queues: adapters, serverAdapter, options: { uiConfig: { boardTitle: 'Booking queues' } } });
  return serverAdapter.registerPlugin();
}

const JOB_ID_FIELDS = ['kind', 'traceRequestId', 'requestId', 'appointmentId', 'versionId', 'deadline'] as const;

export function redactJobData(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  const record = data as Record<string, unknown>;
  const shown: Record<string, unknown> = {};
  for (const key of JOB_ID_FIELDS) if (record[key] !== undefined) shown[key] = record[key];
  return { ...shown, payload: '[not shown: patient data]' };
}

export function redactReply(reply: unknown): unknown {
  if (!reply || typeof reply !== 'object') return reply;
  const r = reply as Record<string, unknown>;
  // Replies are sealed in Redis: nothing readable to show, and the ciphertext is only noise.
  if (r.type === undefined) return { reply: '[sealed: not shown]' };
  const problem = r.problem as Record<string, unknown> | undefined;
  return {
    type: r.type,
    ...(r.status !== undefined ? { status: r.status } : {}),
    ...(r.resourceType ? { resource: `${r.resourceType}/${r.id}/_history/${r.versionId}` } : {}),
    ...(problem ? { problem: { status: problem.status, code: problem.code, spineCode: problem.spineCode } } : {}),
  };
}

/** Workers are counted with CLIENT LIST: a Redis ACL without it says NOPERM, and the answer names the rule to add (not the user). */
function cannotCount(reason: unknown): string {
  const kind = failureClass(reason);
  return kind === 'NOPERM' ? 'NOPERM (the Redis user needs the ACL rule +client|list)' : kind;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
