import { clockCheck, failureClass, type MeasuredClock, queueCheck, type ReadinessLogger, readinessLog } from '@booking/observability';
import type { PasPort } from '@booking/pas';
import type { Worker } from 'bullmq';
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { Registry } from 'prom-client';

export interface WorkerAdminOptions {
  worker: Worker;
  pas: PasPort;
  /** Redis's clock, on which job deadlines are checked: no job is taken until it is measured (main.ts). */
  clock: MeasuredClock;
  registry: Registry;
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
  /** Where a readiness check's failure is logged with its detail, when its state changes. */
  logger?: ReadinessLogger;
}

/**
 * The worker's small admin listener: liveness, readiness (Redis and the PAS both answer, Redis's
 * clock is measured, the booking queue is not paused) and Prometheus metrics. Health is unauthenticated for kubelet and Docker probes; it says only which
 * dependency is missing and the class of its failure (never a driver's message: it names the server and the login).
 */
export function createWorkerAdminApp({ worker, pas, clock, registry, metricsToken, logger }: WorkerAdminOptions) {
  const admin = new Hono();
  // Failures are answered by their class only (no server, port or login); the message is logged on change.
  const logCheck = readinessLog(logger);
  admin.get('/health/live', (c) => c.json({ status: 'ok' }));
  admin.get('/health/ready', async (c) => {
    const check = async (name: string, run: () => Promise<unknown>) => {
      try {
        await withDeadline(run(), 2000);
        logCheck(name, 'ok');
        return 'ok';
      } catch (error) {
        const status = `unreachable: ${failureClass(error)}`;
        logCheck(name, status, error);
        return status;
      }
    };
    const [redis, pasCheck] = await Promise.all([
      check('redis', async () => {
        const client = await worker.client;
        await (client as unknown as { ping(): Promise<string> }).ping();
      }),
      check('pas', () => pas.ping()),
    ]);
    // Job deadlines are checked on Redis's clock: until it is measured (TIME) no job is taken.
    const clockStatus = clockCheck(clock);
    logCheck('clock', clockStatus, clock.lastError);
    const checks: Record<string, string> = { redis, clock: clockStatus, pas: pasCheck };
    if (redis === 'ok') {
      // A queue paused on the dashboard gives this worker no job, however healthy it is (Queue.isPaused's test).
      try {
        const client = await worker.client;
        const paused = (await withDeadline(client.hexists(worker.toKey('meta'), 'paused'), 2000)) === 1;
        checks.queue = queueCheck(paused);
        logCheck('queue', checks.queue);
      } catch (error) {
        checks.queue = `cannot read: ${failureClass(error)}`;
        logCheck('queue', checks.queue, error);
      }
    }
    const ready = redis === 'ok' && clockStatus === 'ok' && pasCheck === 'ok' && checks.queue === 'ok';
    return c.json({ status: ready ? 'ready' : 'not ready', checks }, ready ? 200 : 503);
  });
  if (metricsToken) admin.use('/metrics', bearerAuth({ token: metricsToken }));
  admin.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));
  return admin;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
