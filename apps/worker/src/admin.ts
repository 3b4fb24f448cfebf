import type { PasPort } from '@booking/pas';
import type { Worker } from 'bullmq';
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { Registry } from 'prom-client';

export interface WorkerAdminOptions {
  worker: Worker;
  pas: PasPort;
  registry: Registry;
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined;
}

/**
 * The worker's small admin listener: liveness, readiness (Redis and the PAS both answer, the
 * booking queue is not paused) and Prometheus metrics. Health is unauthenticated for kubelet and Docker probes; it says only which
 * dependency is missing.
 */
export function createWorkerAdminApp({ worker, pas, registry, metricsToken }: WorkerAdminOptions) {
  const admin = new Hono();
  admin.get('/health/live', (c) => c.json({ status: 'ok' }));
  admin.get('/health/ready', async (c) => {
    const check = async (run: () => Promise<unknown>) => {
      try {
        await withDeadline(run(), 2000);
        return 'ok';
      } catch (error) {
        return `unreachable: ${(error as Error).message}`;
      }
    };
    const [redis, pasCheck] = await Promise.all([
      check(async () => {
        const client = await worker.client;
        await (client as unknown as { ping(): Promise<string> }).ping();
      }),
      check(() => pas.ping()),
    ]);
    const checks: Record<string, string> = { redis, pas: pasCheck };
    if (redis === 'ok') {
      // A queue paused on the dashboard gives this worker no job, however healthy it is (Queue.isPaused's test).
      try {
        const client = await worker.client;
        const paused = (await withDeadline(client.hexists(worker.toKey('meta'), 'paused'), 2000)) === 1;
        checks.queue = paused ? 'paused: no job is taken until it is resumed on the queue dashboard' : 'ok';
      } catch (error) {
        checks.queue = `cannot read: ${(error as Error).message}`;
      }
    }
    const ready = redis === 'ok' && pasCheck === 'ok' && checks.queue === 'ok';
    return c.json({ status: ready ? 'ready' : 'not ready', checks }, ready ? 200 : 503);
  });
  if (metricsToken) admin.use('/metrics', bearerAuth({ token: metricsToken }));
  admin.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));
  return admin;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
