import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.js';
import { requestHeader } from '../request-headers.js';

/**
 * Every response, errors included, carries our own X-Request-ID, the consumer's X-Request-ID as
 * X-Correlation-ID, and Cache-Control: no-store (spec §3.2, §13.3).
 */
export const requestIds = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = randomUUID();
  c.set('requestId', requestId);
  await next();
  c.res.headers.set('X-Request-ID', requestId);
  const correlationId = correlationIdOf(c);
  if (correlationId) c.res.headers.set('X-Correlation-ID', correlationId);
  c.res.headers.set('Cache-Control', 'no-store');
});

/** The X-Correlation-ID this request is answered with: the consumer's X-Request-ID, unless absent or too long. */
export function correlationIdOf(c: Context): string | undefined {
  const consumerId = requestHeader(c, 'X-Request-ID');
  return consumerId && consumerId.length <= 200 ? consumerId : undefined;
}
