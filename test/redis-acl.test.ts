import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFacadeConfig } from '../apps/facade/src/config.js';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { freePort } from './support/ports.js';
import { stopProcess, waitForRedis } from './support/redis.js';
import { cli } from './support/cli.js';
import { consumerHeaders } from './support/consumer.js';
import { Stack } from './support/stack.js';

/**
 * Redis with a password, as docker/compose.yaml runs it: the default user off, an ACL user whose
 * password facade and worker read from a secret file (REDIS_USERNAME, REDIS_PASSWORD_FILE).
 */

const PASSWORD = 'redis-Secret-0123456789';
let dir: string;
let redis: ChildProcess;
let url: string;
let stack: Stack | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'booking-redis-acl-'));
  const port = await freePort();
  writeFileSync(join(dir, 'users.acl'), `user default off\nuser booking on >${PASSWORD} ~* &* +@all -@admin +client|list +client|setname +client|getname +info\n`);
  writeFileSync(join(dir, 'redis_password'), `${PASSWORD}\n`, { mode: 0o600 });
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--aclfile', join(dir, 'users.acl')], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  await waitForRedis(`redis://booking:${PASSWORD}@127.0.0.1:${port}`);
});
afterAll(async () => {
  await stack?.stop();
  if (redis) await stopProcess(redis);
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis behind an ACL user and password', () => {
  it('refuses a client without the password', async () => {
    const anonymous = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => {});
    await expect(anonymous.connect().then(() => anonymous.ping())).rejects.toThrow();
    anonymous.disconnect();
  });

  it('facade and worker read the password from a secret file and put it into the connection', () => {
    const env = { REDIS_URL: url, REDIS_USERNAME: 'booking', REDIS_PASSWORD_FILE: join(dir, 'redis_password'), QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64')}` };
    expect(loadFacadeConfig(env).REDIS_URL).toBe(`redis://booking:${PASSWORD}@${url.slice('redis://'.length)}`);
    expect(loadWorkerConfig(env).REDIS_URL).toBe(loadFacadeConfig(env).REDIS_URL);
  });

  it('a stack on that Redis is ready and answers (facade and worker authenticated)', async () => {
    stack = await Stack.start({ redisUrl: url, env: { REDIS_USERNAME: 'booking', REDIS_PASSWORD_FILE: join(dir, 'redis_password') } });
    const res = await fetch(`${stack.baseUrl}/metadata`, { headers: consumerHeaders(stack.baseUrl, 'metadata') });
    expect(res.status).toBe(200);
    expect(stack.logs()).not.toContain(PASSWORD);
  });
});

describe('a Redis ACL without CLIENT LIST and TIME', () => {
  let narrowDir: string;
  let narrow: ChildProcess | undefined;
  let narrowUrl: string;
  let narrowStack: Stack | undefined;
  beforeAll(async () => {
    narrowDir = mkdtempSync(join(tmpdir(), 'booking-redis-acl-narrow-'));
    const port = await freePort();
    // As above, less +client|list (BullMQ books, but nobody can count the workers) and less TIME
    // (Redis's clock, on which job deadlines are read).
    writeFileSync(join(narrowDir, 'users.acl'), `user default off\nuser booking on >${PASSWORD} ~* &* +@all -@admin -time +client|setname +client|getname +info\n`);
    writeFileSync(join(narrowDir, 'redis_password'), `${PASSWORD}\n`, { mode: 0o600 });
    narrow = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', narrowDir, '--aclfile', join(narrowDir, 'users.acl')], { stdio: 'ignore' });
    narrowUrl = `redis://127.0.0.1:${port}`;
    await waitForRedis(`redis://booking:${PASSWORD}@127.0.0.1:${port}`);
  });
  afterAll(async () => {
    await narrowStack?.stop();
    if (narrow) await stopProcess(narrow);
    rmSync(narrowDir, { recursive: true, force: true });
  });

  it('facade readiness says why it is 503, and doctor fails naming the ACL rule to add', async () => {
    narrowStack = new Stack({ redisUrl: narrowUrl, env: { REDIS_USERNAME: 'booking', REDIS_PASSWORD_FILE: join(narrowDir, 'redis_password') } });
    const facade = await narrowStack.startFacade();
    let ready: Response | undefined;
    let body: { checks: Record<string, string> } = { checks: {} };
    // Until the admin listener answers and Redis is reached (a bounded wait, not a timing assertion).
    for (let i = 0; i < 300 && body.checks.redis !== 'ok'; i++) {
      await sleep(100);
      ready = await fetch(`${facade.adminUrl}/health/ready`).catch(() => undefined);
      if (ready) body = (await ready.json()) as typeof body;
    }
    expect(ready?.status).toBe(503);
    expect(body.checks.redis).toBe('ok');
    expect(body.checks.workers).toMatch(/^cannot count: NOPERM.*\+client\|list/);

    const doctor = await cli(['doctor', '--app', 'facade'], { REDIS_URL: narrowUrl, REDIS_USERNAME: 'booking', REDIS_PASSWORD_FILE: join(narrowDir, 'redis_password'), QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64')}`, FACADE_TLS: 'off', AUDIT_DIR: join(narrowDir, 'audit') });
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL {2}redis {3}the Redis user may not run CLIENT LIST, TIME: .*readiness.*clock/);
    expect(doctor.stdout).toMatch(/add \+client\|list \+time to the user's ACL rule/);
  });

  it('doctor passes the ACL the product documents', async () => {
    const doctor = await cli(['doctor', '--app', 'facade'], { REDIS_URL: url, REDIS_USERNAME: 'booking', REDIS_PASSWORD_FILE: join(dir, 'redis_password'), QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64')}`, FACADE_TLS: 'off', AUDIT_DIR: join(dir, 'audit') });
    expect(doctor.stdout).toMatch(/ok {4}redis {3}the Redis user may run CLIENT SETNAME, GETNAME, LIST and TIME/);
  });
});
