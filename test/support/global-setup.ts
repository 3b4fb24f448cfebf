import type { TestProject } from 'vitest/node';
import { type RedisServer, startRedis } from './redis.js';

/**
 * One Redis for the whole run: the one in REDIS_URL if set, else a redis-server started here.
 * Each test stack uses its own queue prefix, so test files never see each other's jobs.
 */
let redis: RedisServer | undefined;

export async function setup(project: TestProject) {
  let url = process.env.REDIS_URL;
  if (!url) {
    redis = await startRedis();
    url = redis.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown() {
  await redis?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
