import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { bearerAuth } from 'hono/bearer-auth';
import type { Registry } from 'prom-client';
import type { PasQueueClient } from './queue-client.js';

export interface AdminOptions {
  /** Prometheus registry served at /metrics. */
  registry: Registry;
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /** The queue dashboard; absent (no ADMIN_PASSWORD) → not served. */
  dashboard?: { username: string; password: string; readOnly: boolean } | undefined;
  /** Every queue of the product, for the dashboard. */
  queues?: Queue[];
}

export const DASHBOARD_PATH = '/dashboard';

/**
 * The admin listener (never the consumer-facing one). Health is unauthenticated: kubelet and
 * Docker probes carry no secrets, and the answers say only ready or not and which dependency is
 * missing. /metrics (counts and timings, no patient data) takes a bearer token when one is
 * configured. The queue dashboard shows and can act on jobs, so it always needs the admin
 * credentials. Readiness needs Redis and at least one live worker.
 */
export function createAdminApp(queue: PasQueueClient, options?: AdminOptions) {
  // Not strict: /dashboard/ and /dashboard are the same page, as a person types either.
  const admin = new Hono({ strict: false });
  admin.get('/health/live', (c) => c.json({ status: 'ok' }));
  admin.get('/health/ready', async (c) => {
    const checks: Record<string, string> = {};
    try {
      const client = await withDeadline(queue.queue.client, 1000);
      await withDeadline((client as unknown as { ping(): Promise<string> }).ping(), 1000);
      checks.redis = 'ok';
      const workers = await withDeadline(queue.queue.getWorkersCount(), 1000);
      checks.workers = workers > 0 ? `ok (${workers})` : 'none connected';
    } catch (error) {
      checks.redis ??= `unreachable: ${(error as Error).message}`;
    }
    const ready = checks.redis === 'ok' && checks.workers?.startsWith('ok');
    return c.json({ status: ready ? 'ready' : 'not ready', checks }, ready ? 200 : 503);
  });
  if (!options) return admin;

  const { registry, metricsToken, dashboard } = options;
  if (metricsToken) admin.use('/metrics', bearerAuth({ token: metricsToken }));
  admin.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));

  if (dashboard) {
    admin.use(DASHBOARD_PATH, basicAuth({ username: dashboard.username, password: dashboard.password, realm: 'Booking facade admin' }));
    admin.use(`${DASHBOARD_PATH}/*`, basicAuth({ username: dashboard.username, password: dashboard.password, realm: 'Booking facade admin' }));
    admin.route(DASHBOARD_PATH, queueDashboard(options.queues ?? [queue.queue], dashboard.readOnly));
  } else {
    admin.all(`${DASHBOARD_PATH}/*`, (c) => c.text('The queue dashboard is off: set ADMIN_PASSWORD to turn it on.', 404));
  }
  return admin;
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

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
