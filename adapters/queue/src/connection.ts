import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: the settings of @booking/config's `redisSettings` (structurally, to keep this package free of zod). */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_SENTINELS?: { host: string; port: number }[] | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_SENTINEL_USERNAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_SENTINEL_TLS?: boolean | undefined;
  REDIS_TLS_CA?: string | undefined;
}

export type RedisRole = 'producer' | 'worker' | 'events';

/**
 * ioredis options for one role. Workers need `maxRetriesPerRequest: null` (blocking commands);
 * the facade's producer fails fast instead so a Redis outage never hangs an HTTP request.
 *
 * With Sentinels, ioredis asks them for the primary, and when the primary's connection drops it
 * asks again (until they name the promoted replica) and reconnects: no restart. A node answering
 * READONLY (a primary demoted to replica) is left the same way.
 */
export function redisOptions(target: RedisTarget | string, role: RedisRole): RedisOptions {
  const settings = typeof target === 'string' ? { REDIS_URL: target } : target;
  const url = new URL(settings.REDIS_URL);
  const tls = url.protocol === 'rediss:';
  const tlsOptions = settings.REDIS_TLS_CA ? { ca: settings.REDIS_TLS_CA } : {};
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'producer' ? 1 : null,
    enableOfflineQueue: role !== 'producer',
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
  if (!settings.REDIS_SENTINELS) {
    return { ...options, ...(tls ? { tls: tlsOptions } : {}) };
  }
  const sentinelTls = settings.REDIS_SENTINEL_TLS ?? tls;
  return {
    ...options,
    sentinels: settings.REDIS_SENTINELS,
    name: settings.REDIS_SENTINEL_MASTER ?? 'mymaster',
    role: 'master',
    // The primary's credentials and database come from REDIS_URL; its host and port from the Sentinels.
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...(tls ? { tls: tlsOptions, enableTLSForSentinelMode: true } : {}),
    ...(sentinelTls ? { sentinelTLS: tlsOptions } : {}),
    ...(settings.REDIS_SENTINEL_USERNAME ? { sentinelUsername: settings.REDIS_SENTINEL_USERNAME } : {}),
    ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
    // Not ioredis' failoverDetector: a +switch-master arriving while a reconnect is under way makes
    // that attempt fail for good (status "end", never reconnecting), which the failover test caught.
    // A dead primary's socket errors at once; a demoted one answers READONLY (reconnectOnError).
    failoverDetector: false,
    sentinelRetryStrategy: (times) => Math.min(times * 200, 2000),
  };
}

/** A Redis connection for BullMQ: one server (REDIS_URL) or the primary the Sentinels name. */
export function redisConnection(target: RedisTarget | string, role: RedisRole): Redis {
  const settings = typeof target === 'string' ? { REDIS_URL: target } : target;
  return settings.REDIS_SENTINELS ? new Redis(redisOptions(settings, role)) : new Redis(settings.REDIS_URL, redisOptions(settings, role));
}

/** What a log line or a report may say about the target: never a password. */
export function describeRedisTarget(target: RedisTarget): string {
  const url = new URL(target.REDIS_URL);
  if (url.password) url.password = '***';
  if (!target.REDIS_SENTINELS) return url.toString();
  const auth = url.username || url.password ? `${url.username}${url.password ? ':***' : ''}@` : '';
  return `${url.protocol}//${auth}<${target.REDIS_SENTINEL_MASTER ?? 'mymaster'} via Sentinels ${target.REDIS_SENTINELS.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',')}>${url.pathname.length > 1 ? url.pathname : ''}`;
}
