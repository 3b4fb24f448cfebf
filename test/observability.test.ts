import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { freePort } from './support/ports.js';
import { metricValue, scrape } from './support/prometheus.js';
import { stopProcess } from './support/redis.js';
import { ADMIN_CREDENTIALS, type ManagedProcess, spawnTs, Stack } from './support/stack.js';

/** Operations (issue items 2, 3, 5): Prometheus metrics, health probes and request logs, on real processes. */

let stack: Stack;
let slots: SlotForBooking[];
const takeSlot = () => slots.shift() as SlotForBooking;

beforeAll(async () => {
  // info, so the per-request lines are written; one worker, so "stop the only worker" means something.
  stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { LOG_LEVEL: 'info' } });
  const db = stack.openPas();
  slots = freeSlots(db, undefined, 20);
  db.close();
});
afterAll(async () => {
  await stack?.stop();
});

const worker = () => stack.workers.at(-1) as ManagedProcess;

async function book(headers: Record<string, string> = {}) {
  return fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book', headers), body: JSON.stringify(bookingBody(takeSlot())) });
}

/** Polls until `check` passes (counters of a finished job land a moment after its reply). */
async function eventually(check: () => Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** The JSON log lines a process wrote. */
function logLines(process: ManagedProcess): Record<string, unknown>[] {
  return process.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('metrics', () => {
  it('move on both processes after one booking: HTTP, outcome, PAS latency, job timings, queue depth', async () => {
    const facadeAdmin = stack.facades[0]!.adminUrl;
    const workerAdmin = worker().adminUrl as string;
    const [facadeBefore, workerBefore] = await Promise.all([scrape(facadeAdmin), scrape(workerAdmin)]);

    const res = await book();
    expect(res.status).toBe(201);

    await eventually(async () => {
      const [facade, work] = await Promise.all([scrape(facadeAdmin), scrape(workerAdmin)]);
      const moved = (text: string, before: string, name: string, labels: Record<string, string>) => metricValue(text, name, labels) - metricValue(before, name, labels);
      expect(moved(facade, facadeBefore, 'booking_http_requests_total', { interaction: 'book', status: '201' })).toBe(1);
      expect(moved(facade, facadeBefore, 'booking_http_request_duration_seconds_count', { interaction: 'book', status: '201' })).toBe(1);
      expect(moved(work, workerBefore, 'booking_outcomes_total', { outcome: 'booked' })).toBe(1);
      expect(moved(work, workerBefore, 'booking_pas_duration_seconds_count', { operation: 'book' })).toBe(1);
      expect(moved(work, workerBefore, 'booking_jobs_processed_total', { kind: 'book', result: 'resource' })).toBe(1);
      expect(moved(work, workerBefore, 'booking_job_wait_seconds_count', { kind: 'book' })).toBe(1);
      expect(moved(work, workerBefore, 'booking_job_run_seconds_count', { kind: 'book' })).toBe(1);
      expect(metricValue(facade, 'booking_queue_jobs', { queue: 'pas-requests', state: 'completed' })).toBeGreaterThanOrEqual(1);
      expect(metricValue(facade, 'booking_queue_jobs', { queue: 'pas-requests', state: 'failed' })).toBe(0);
      expect(work).toContain('booking_pas_retries_total 0');
      // Node process metrics on both.
      for (const text of [facade, work]) {
        expect(metricValue(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
        expect(metricValue(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
      }
    });
  });

  it('counts a taken slot as slot_taken', async () => {
    const slot = takeSlot();
    const workerBefore = await scrape(worker().adminUrl as string);
    const send = () => fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book'), body: JSON.stringify(bookingBody(slot)) });
    expect((await send()).status).toBe(201);
    expect((await send()).status).toBe(422);
    const after = await scrape(worker().adminUrl as string);
    expect(metricValue(after, 'booking_outcomes_total', { outcome: 'slot_taken' }) - metricValue(workerBefore, 'booking_outcomes_total', { outcome: 'slot_taken' })).toBe(1);
  });
});

describe('logs', () => {
  it('write one line per request carrying our X-Request-ID, the consumer X-Request-ID and Ssp-TraceID, and no token or patient data', async () => {
    const consumerRequestId = randomUUID();
    const sspTraceId = randomUUID();
    const headers = consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': consumerRequestId, 'Ssp-TraceID': sspTraceId });
    const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers, body: JSON.stringify(bookingBody(takeSlot(), { family: 'Zebedee-Logcheck' })) });
    expect(res.status).toBe(201);
    const ourId = res.headers.get('x-request-id');

    await eventually(async () => {
      const line = logLines(stack.facades[0]!).find((l) => l.msg === 'request' && l.correlationId === consumerRequestId);
      expect(line).toMatchObject({ level: 30, service: 'facade', requestId: ourId, correlationId: consumerRequestId, sspTraceId, method: 'POST', interaction: 'book', status: 201 });
      expect(line?.ms).toEqual(expect.any(Number));
      // The worker's lines for the job carry our request id.
      expect(logLines(worker()).find((l) => l.msg === 'job done' && l.requestId === ourId)).toMatchObject({ service: 'worker', kind: 'book', status: 201 });
    });

    const everything = [...stack.facades, ...stack.workers].flatMap((p) => p.output).join('');
    expect(everything).not.toContain('Zebedee-Logcheck');
    expect(everything).not.toContain(headers.Authorization!.slice('Bearer '.length, 40));
    expect(everything).not.toMatch(/Bearer /);
  });
});

describe('health', () => {
  it('answers liveness and readiness on both processes, unauthenticated, with a small JSON body', async () => {
    const facadeAdmin = stack.facades[0]!.adminUrl;
    const workerAdmin = worker().adminUrl as string;
    for (const url of [`${facadeAdmin}/health/live`, `${workerAdmin}/health/live`]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
    }
    const facadeReady = await fetch(`${facadeAdmin}/health/ready`);
    expect(facadeReady.status).toBe(200);
    expect(await facadeReady.json()).toEqual({ status: 'ready', checks: { redis: 'ok', clock: 'ok', workers: 'ok (1)', queue: 'ok' } });
    const workerReady = await fetch(`${workerAdmin}/health/ready`);
    expect(workerReady.status).toBe(200);
    expect(await workerReady.json()).toEqual({ status: 'ready', checks: { redis: 'ok', clock: 'ok', pas: 'ok', queue: 'ok' } });
  });

  it('worker readiness turns 503 when its Redis is unreachable, while liveness stays 200', async () => {
    const [deadRedisPort, adminPort] = [await freePort(), await freePort()];
    const lonely = spawnTs(
      'apps/worker/src/main.ts',
      { ...stack.commonEnv(), REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`, PAS_SQLITE_PATH: stack.pasPath, WORKER_ADMIN_PORT: String(adminPort) },
      'worker-without-redis',
    );
    try {
      let ready: Response | undefined;
      await eventually(async () => {
        ready = await fetch(`http://127.0.0.1:${adminPort}/health/ready`);
      }, 20000);
      expect(ready?.status).toBe(503);
      const body = (await ready?.json()) as { status: string; checks: Record<string, string> };
      expect(body.status).toBe('not ready');
      expect(body.checks.pas).toBe('ok');
      expect(body.checks.redis).toMatch(/^unreachable/);
      expect((await fetch(`http://127.0.0.1:${adminPort}/health/live`)).status).toBe(200);
    } finally {
      await stopProcess(lonely.child, 'SIGKILL');
    }
  });

  it('facade readiness turns 503 when the only worker stops, and 200 again once one is back', async () => {
    const facade = stack.facades[0]!;
    await stopProcess(worker().child);
    // A generous bounded wait, not a timing assertion.
    await eventually(async () => {
      const res = await fetch(`${facade.adminUrl}/health/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'not ready', checks: { redis: 'ok', clock: 'ok', workers: 'none connected', queue: 'ok' } });
    }, 30000);
    // Liveness does not follow: restarting the facade would not bring a worker back.
    expect((await fetch(`${facade.adminUrl}/health/live`)).status).toBe(200);

    stack.startWorker(await freePort());
    await stack.waitReady(facade);
    expect((await fetch(`${facade.adminUrl}/health/ready`)).status).toBe(200);
  });
});

describe('a booking queue paused on the queue dashboard', () => {
  it('turns readiness 503 on facade and worker with the reason, shows the paused jobs in the depth gauge, and logs and audits who paused and resumed it', async () => {
    const facade = stack.facades[0]!;
    const workerAdmin = worker().adminUrl as string;
    const auth = `Basic ${Buffer.from(`${ADMIN_CREDENTIALS.username}:${ADMIN_CREDENTIALS.password}`).toString('base64')}`;
    const dashboard = (action: 'pause' | 'resume') => fetch(`${facade.adminUrl}/dashboard/api/queues/pas-requests/${action}`, { method: 'PUT', headers: { Authorization: auth } });
    const started = new Date();

    expect((await dashboard('pause')).status).toBe(200);
    const booking = book();
    try {
      for (const url of [facade.adminUrl, workerAdmin]) {
        const ready = await fetch(`${url}/health/ready`);
        expect(ready.status).toBe(503);
        const body = (await ready.json()) as { status: string; checks: Record<string, string> };
        expect(body.status).toBe('not ready');
        expect(body.checks.queue).toMatch(/^paused: .*resumed on the queue dashboard/);
      }
      // The booking sits among the paused jobs, which the gauge now shows.
      await eventually(async () => expect(metricValue(await scrape(facade.adminUrl), 'booking_queue_jobs', { queue: 'pas-requests', state: 'paused' })).toBe(1));
      expect(await scrape(facade.adminUrl)).toMatch(/booking_queue_jobs\{queue="pas-requests",state="prioritized"\} 0/);
    } finally {
      expect((await dashboard('resume')).status).toBe(200);
      await booking;
    }
    expect((await fetch(`${facade.adminUrl}/health/ready`)).status).toBe(200);
    expect((await fetch(`${workerAdmin}/health/ready`)).status).toBe(200);

    const actions = logLines(facade).filter((l) => l.msg === 'queue dashboard action');
    expect(actions).toEqual([
      expect.objectContaining({ level: 40, dashboardUser: ADMIN_CREDENTIALS.username, action: 'queues/pas-requests/pause', method: 'PUT', status: 200 }),
      expect.objectContaining({ level: 40, dashboardUser: ADMIN_CREDENTIALS.username, action: 'queues/pas-requests/resume', method: 'PUT', status: 200 }),
    ]);
    const audited = [];
    for await (const r of queryAudit(stack.auditDir, { from: started })) if (r.event === 'admin-action') audited.push(r);
    expect(audited).toEqual([
      expect.objectContaining({ interaction: 'dashboard', adminUser: ADMIN_CREDENTIALS.username, outcome: 'queues/pas-requests/pause', status: 200 }),
      expect.objectContaining({ interaction: 'dashboard', adminUser: ADMIN_CREDENTIALS.username, outcome: 'queues/pas-requests/resume', status: 200 }),
    ]);
    // Looking is not acting: the dashboard's reads are not recorded.
    expect((await fetch(`${facade.adminUrl}/dashboard/api/queues`, { headers: { Authorization: auth } })).status).toBe(200);
    expect(logLines(facade).filter((l) => l.msg === 'queue dashboard action')).toHaveLength(2);
  });
});
