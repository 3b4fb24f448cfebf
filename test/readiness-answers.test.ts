import { failureClass } from '@booking/observability';
import type { PasPort } from '@booking/pas';
import type { Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createAdminApp } from '../apps/facade/src/admin.js';
import type { PasQueueClient } from '../apps/facade/src/queue-client.js';
import { createWorkerAdminApp } from '../apps/worker/src/admin.js';

/**
 * Readiness is unauthenticated: a failed check is answered with the class of its failure only,
 * never the driver's message (SQL Server's names the server, port and login; Redis's the ACL
 * user). The message goes to the log at warn, once per change of state, not at every probe.
 * In-process, with the drivers' errors as they throw them.
 */

const errorWith = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
/** What mssql throws when the PAS is unreachable or the login is refused. */
const mssqlDown = errorWith("Failed to connect to pas-sql01.trust.internal:1433 - getaddrinfo ENOTFOUND pas-sql01.trust.internal", 'ESOCKET');
const mssqlLogin = errorWith("Login failed for user 'booking_worker'.", 'ELOGIN');
/** What ioredis throws for an ACL refusal (ReplyError: no code, the class is the first word). */
const redisNoPerm = errorWith("NOPERM User booking-facade has no permissions to run the 'client|list' command");
/** What ioredis throws for TIME when the ACL leaves it out. */
const timeNoPerm = errorWith("NOPERM User booking-facade has no permissions to run the 'time' command");
/** The queue's clock (QueueClock), measured or not. */
const measured = { isMeasured: true, lastError: undefined };
const unmeasured = (lastError?: Error) => ({ isMeasured: false, lastError });

function warnings() {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  return { lines, logger: { warn: (obj: object, msg: string) => void lines.push({ obj: obj as Record<string, unknown>, msg }), error() {} } };
}
const ready = async (app: { request(path: string): Response | Promise<Response> }) => {
  const res = await app.request('/health/ready');
  return { status: res.status, text: await res.clone().text(), body: (await res.json()) as { status: string; checks: Record<string, string> } };
};

describe('the class of a failure, never its message', () => {
  it.each([
    [mssqlDown, 'ESOCKET'],
    [mssqlLogin, 'ELOGIN'],
    [errorWith('connect ECONNREFUSED 10.1.2.3:6379', 'ECONNREFUSED'), 'ECONNREFUSED'],
    [redisNoPerm, 'NOPERM'],
    [errorWith("OOM command not allowed when used memory > 'maxmemory'."), 'OOM'],
    [errorWith('no answer within 1000 ms'), 'timeout'],
    [errorWith('Connection is closed.'), 'error'],
    [errorWith('something', 'not a code: 10.1.2.3'), 'error'],
  ])('%s → %s', (error, expected) => expect(failureClass(error)).toBe(expected));
});

describe('worker readiness', () => {
  const worker = (ping: () => Promise<unknown>) =>
    ({ client: Promise.resolve({ ping, hexists: async () => 0 }), toKey: (k: string) => `bull:pas-requests:${k}` }) as unknown as Worker;

  it('a PAS that is down or refuses the login: 503 with its class; server, port and login only in the log, once per change', async () => {
    const { lines, logger } = warnings();
    let failure: Error | undefined = mssqlDown;
    const pas = { ping: async () => { if (failure) throw failure; } } as unknown as PasPort;
    const app = createWorkerAdminApp({ worker: worker(async () => 'PONG'), pas, clock: measured, registry: new Registry(), logger });

    const first = await ready(app);
    expect(first.status).toBe(503);
    expect(first.body.checks).toEqual({ redis: 'ok', clock: 'ok', pas: 'unreachable: ESOCKET', queue: 'ok' });
    expect(first.text).not.toMatch(/pas-sql01|1433|booking_worker|ENOTFOUND/);
    await ready(app);
    await ready(app);
    expect(lines).toEqual([{ msg: 'readiness check failing', obj: { check: 'pas', status: 'unreachable: ESOCKET', was: null, err: mssqlDown.message } }]);

    failure = mssqlLogin;
    expect((await ready(app)).body.checks.pas).toBe('unreachable: ELOGIN');
    failure = undefined;
    expect((await ready(app)).status).toBe(200);
    expect(lines.map((l) => [l.msg, l.obj.status])).toEqual([
      ['readiness check failing', 'unreachable: ESOCKET'],
      ['readiness check failing', 'unreachable: ELOGIN'],
      ['readiness check recovered', 'ok'],
    ]);
  });

  it('a Redis refusal: its class, not the ACL user', async () => {
    const { logger } = warnings();
    const app = createWorkerAdminApp({ worker: worker(async () => Promise.reject(redisNoPerm)), pas: { ping: async () => {} } as unknown as PasPort, clock: measured, registry: new Registry(), logger });
    const answer = await ready(app);
    expect(answer.body.checks.redis).toBe('unreachable: NOPERM');
    expect(answer.text).not.toMatch(/booking-facade/);
  });

  it("Redis's clock not measured (an ACL without TIME): 503 naming the rule to add, not the user; logged once", async () => {
    const { lines, logger } = warnings();
    let clock = unmeasured(timeNoPerm);
    const app = createWorkerAdminApp({ worker: worker(async () => 'PONG'), pas: { ping: async () => {} } as unknown as PasPort, clock: { get isMeasured() { return clock.isMeasured; }, get lastError() { return clock.lastError; } }, registry: new Registry(), logger });
    const answer = await ready(app);
    expect(answer.status).toBe(503);
    expect(answer.body.checks).toEqual({ redis: 'ok', clock: 'not measured: NOPERM (the Redis user needs the ACL rule +time)', pas: 'ok', queue: 'ok' });
    expect(answer.text).not.toMatch(/booking-facade/);
    await ready(app);
    expect(lines).toEqual([{ msg: 'readiness check failing', obj: expect.objectContaining({ check: 'clock', err: timeNoPerm.message }) }]);
    clock = measured as never;
    expect((await ready(app)).status).toBe(200);
  });
});

describe('facade readiness', () => {
  it('Redis unreachable: its class only; the message (host, user) in the log', async () => {
    const { lines, logger } = warnings();
    const refused = errorWith('connect ECONNREFUSED redis-01.trust.internal:6379 (user booking)', 'ECONNREFUSED');
    const queue = { queue: { client: Promise.reject(refused) }, clock: measured } as unknown as PasQueueClient;
    (queue.queue.client as Promise<unknown>).catch(() => {});
    const app = createAdminApp(queue, { registry: new Registry(), logger });
    const answer = await ready(app);
    expect(answer.status).toBe(503);
    expect(answer.body.checks).toEqual({ redis: 'unreachable: ECONNREFUSED', clock: 'ok' });
    expect(answer.text).not.toMatch(/redis-01|6379|booking/);
    expect(lines).toEqual([{ msg: 'readiness check failing', obj: expect.objectContaining({ check: 'redis', err: refused.message }) }]);
  });

  it('workers not countable for want of +client|list: the rule is named, the ACL user is not', async () => {
    const { logger } = warnings();
    const client = { ping: async () => 'PONG' };
    const queue = { queue: { client: Promise.resolve(client), getWorkersCount: () => Promise.reject(redisNoPerm), isPaused: async () => false }, clock: measured } as unknown as PasQueueClient;
    const answer = await ready(createAdminApp(queue, { registry: new Registry(), logger }));
    expect(answer.body.checks.workers).toBe('cannot count: NOPERM (the Redis user needs the ACL rule +client|list)');
    expect(answer.text).not.toMatch(/booking-facade/);
  });

  it("Redis's clock not measured: 503 though Redis, workers and queue are fine (no job can be stamped)", async () => {
    const { logger } = warnings();
    const client = { ping: async () => 'PONG' };
    const queue = { queue: { client: Promise.resolve(client), getWorkersCount: async () => 2, isPaused: async () => false }, clock: unmeasured(timeNoPerm) } as unknown as PasQueueClient;
    const answer = await ready(createAdminApp(queue, { registry: new Registry(), logger }));
    expect(answer.status).toBe(503);
    expect(answer.body.checks).toEqual({ redis: 'ok', clock: 'not measured: NOPERM (the Redis user needs the ACL rule +time)', workers: 'ok (2)', queue: 'ok' });
    expect(answer.text).not.toMatch(/booking-facade/);
    const starting = { ...queue, clock: unmeasured() } as unknown as PasQueueClient;
    expect((await ready(createAdminApp(starting, { registry: new Registry(), logger }))).body.checks.clock).toBe('not measured yet');
  });
});
