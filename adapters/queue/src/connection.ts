import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections for BullMQ. Workers need `maxRetriesPerRequest: null` (blocking commands);
 * the facade's producer fails fast instead so a Redis outage never hangs an HTTP request.
 */
export function redisConnection(url: string, role: 'producer' | 'worker' | 'events'): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'producer' ? 1 : null,
    enableOfflineQueue: role !== 'producer',
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  return new Redis(url, options);
}
