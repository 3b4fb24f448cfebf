import { Hono } from 'hono';
import type { PasQueueClient } from './queue-client.js';

/**
 * The admin listener (never the consumer-facing one): liveness and readiness for orchestrators.
 * Readiness needs Redis and at least one live worker.
 */
export function createAdminApp(queue: PasQueueClient) {
  const admin = new Hono();
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
  return admin;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}
