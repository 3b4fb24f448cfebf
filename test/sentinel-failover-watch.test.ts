import dns from 'node:dns';
import { once } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RedisTarget, redisConnection } from '@booking/queue';
import { startRedis, type RedisServer } from './support/redis.js';
import { type FakeSentinel, startFakeSentinel } from './support/sentinel.js';

/**
 * How a process follows a Sentinel failover (`+switch-master`, adapters/queue/src/connection.ts),
 * with real redis-servers, ioredis and BullMQ, and a stand-in Sentinel so that the test decides
 * when the failover is announced (test/sentinel-frozen-primary.test.ts runs real Sentinels).
 *
 * - BullMQ's Worker ends and reconnects its own blocking connection: its bzpopmin watchdog when
 *   Redis does not answer, and pause()/resume(). A connection reconnected that way must still be
 *   moved to the promoted primary, above all when it reconnected to a frozen primary that the
 *   Sentinels still named (its kernel accepts the socket, its ready check never answers): else the
 *   worker takes no job again until restarted.
 * - A connection whose Sentinel lookup named the old primary just before the switch can land on
 *   it after the announcement was handled: the watch's own periodic question to the Sentinels
 *   must still move it.
 * - Sentinels may announce host names (`announce-hostnames yes`): a connection already on the
 *   announced primary is left alone, the others are moved.
 *
 * Only generous wait limits, no timing.
 */

/** How long anything here may take before it counts as never (a wait limit, not a measurement). */
const WAIT_LIMIT_MS = 30_000;
const MASTER = 'booking';

async function until(what: string, done: () => boolean): Promise<void> {
  for (const giveUp = Date.now() + WAIT_LIMIT_MS; !done(); await sleep(50)) {
    if (Date.now() > giveUp) throw new Error(`never: ${what}`);
  }
}

const target = (sentinel: FakeSentinel): RedisTarget => ({ REDIS_URL: 'redis://sentinel-mode.invalid', REDIS_SENTINELS: [{ host: '127.0.0.1', port: sentinel.port }], REDIS_SENTINEL_MASTER: MASTER });

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 60_000);

async function redisServer(): Promise<RedisServer> {
  const server = await startRedis();
  cleanups.push(async () => {
    server.process.kill('SIGCONT');
    await server.stop();
  });
  return server;
}

async function fakeSentinel(master: { host: string; port: number }): Promise<FakeSentinel> {
  const sentinel = await startFakeSentinel(master);
  cleanups.push(() => sentinel.close());
  return sentinel;
}

describe('a BullMQ worker whose blocking connection BullMQ reconnected follows the failover', () => {
  const setUp = async () => {
    const a = await redisServer();
    const b = await redisServer();
    const sentinel = await fakeSentinel({ host: '127.0.0.1', port: a.port });
    const prefix = `failover-watch-${Date.now()}`;
    const connection = redisConnection(target(sentinel), 'worker');
    connection.on('error', () => {});
    const taken: string[] = [];
    // drainDelay 1 s: BullMQ's watchdog gives up on a blocking read after 1 + 1 s, not 5 + 1 s.
    const worker = new Worker('watch', async (job) => void taken.push(String(job.id)), { connection, prefix, drainDelay: 1 });
    worker.on('error', () => {});
    cleanups.push(async () => {
      await Promise.race([worker.close(true), sleep(5000)]).catch(() => {});
      connection.disconnect();
    });
    await worker.waitUntilReady();
    // BullMQ's own reader (private): the connection that must follow the failover.
    const blocking = (await (worker as unknown as { blockingConnection: { client: Promise<Redis> } }).blockingConnection.client) as Redis;
    await until('the watch subscribed to the Sentinel', () => sentinel.subscribers() > 0);
    const takes = async (server: RedisServer, id: string): Promise<boolean> => {
      const client = new Redis(server.url, { maxRetriesPerRequest: null });
      const queue = new Queue('watch', { connection: client, prefix });
      await queue.add('job', {}, { jobId: id });
      for (const giveUp = Date.now() + WAIT_LIMIT_MS; !taken.includes(id) && Date.now() < giveUp; ) await sleep(100);
      await queue.close();
      client.disconnect();
      return taken.includes(id);
    };
    const promote = (from: RedisServer, to: RedisServer) => {
      sentinel.master.port = to.port;
      sentinel.announce(`${MASTER} 127.0.0.1 ${from.port} 127.0.0.1 ${to.port}`);
    };
    expect(await takes(a, 'on-a')).toBe(true);
    return { a, b, worker, blocking, takes, promote };
  };

  it('takes jobs on the promoted primary when the frozen primary is replaced after BullMQ reconnected to it', { timeout: 120_000 }, async () => {
    const { a, b, blocking, takes, promote } = await setUp();
    const ended = once(blocking, 'end');
    a.process.kill('SIGSTOP');
    // BullMQ's watchdog ends the unanswered blocking connection and connects it again, to the
    // primary the Sentinel still names: the frozen one, whose kernel accepts the socket.
    await ended;
    await until('the blocking connection reconnected to the frozen primary', () => blocking.status === 'connect' && blocking.stream?.remotePort === a.port);
    promote(a, b);
    expect(await takes(b, 'on-b')).toBe(true);
  });

  it('moves its blocking reads to the promoted primary after a pause and resume', { timeout: 120_000 }, async () => {
    const { a, b, worker, blocking, takes, promote } = await setUp();
    const ended = once(blocking, 'end');
    await worker.pause();
    worker.resume();
    await ended;
    await until('the blocking connection back on the primary', () => blocking.status === 'ready' && blocking.stream?.remotePort === a.port);
    promote(a, b);
    // The old primary is still up, so a reader left there would wait on it for ever (the worker's
    // other connection would still take a job after each empty read).
    await until('the blocking connection on the promoted primary', () => blocking.status === 'ready' && blocking.stream?.remotePort === b.port);
    expect(await takes(b, 'on-b')).toBe(true);
  });
});

describe('Sentinels announcing host names', () => {
  it('leave a connection already on the announced primary alone and move the others', async () => {
    const a = await redisServer();
    const b = await redisServer();
    const sentinel = await fakeSentinel({ host: '127.0.0.1', port: b.port });
    const connect = async (): Promise<Redis> => {
      const redis = redisConnection(target(sentinel), 'worker');
      redis.on('error', () => {});
      cleanups.push(() => redis.disconnect());
      expect(await redis.ping()).toBe('PONG');
      return redis;
    };
    // One connection on B, then (the Sentinel naming A by host name now) one on A. B's close is
    // awaited from here: the watch's periodic check may move it before the announcement does.
    const onB = await connect();
    const onBClosed = once(onB, 'close');
    sentinel.master.host = 'localhost';
    sentinel.master.port = a.port;
    const onA = await connect();
    expect([onB.stream.remotePort, onA.stream.remotePort]).toEqual([b.port, a.port]);
    await until('the watch subscribed to the Sentinel', () => sentinel.subscribers() > 0);
    let onAClosed = 0;
    onA.on('close', () => onAClosed++);

    sentinel.announce(`${MASTER} 127.0.0.1 ${b.port} localhost ${a.port}`);
    await onBClosed;
    // Both were judged on that one announcement: A is where "localhost" points.
    expect(onAClosed).toBe(0);
    expect(await onB.ping()).toBe('PONG');
    expect(onB.stream.remotePort).toBe(a.port);

    // A name that does not resolve cannot be compared: every connection is moved (it reconnects).
    const onAClosedNow = once(onA, 'close');
    sentinel.announce(`${MASTER} 127.0.0.1 ${a.port} no-such-host.invalid ${a.port}`);
    await onAClosedNow;
    expect(await onA.ping()).toBe('PONG');
  });
});

describe('a connection that lands on the old primary after the announcement', () => {
  it('is moved to the primary the Sentinels name, with no announcement left to come', { timeout: 120_000 }, async () => {
    const a = await redisServer();
    const b = await redisServer();
    // B promoted and announced: the process's first connection is on B.
    const sentinel = await fakeSentinel({ host: '127.0.0.1', port: b.port });
    const onB = redisConnection(target(sentinel), 'worker');
    onB.on('error', () => {});
    cleanups.push(() => onB.disconnect());
    expect(await onB.ping()).toBe('PONG');
    await until('the watch subscribed to the Sentinel', () => sentinel.subscribers() > 0);
    sentinel.announce(`${MASTER} 127.0.0.1 ${a.port} 127.0.0.1 ${b.port}`);
    // A, the old primary, is frozen; a new connection's lookup got the answer from before the switch.
    a.process.kill('SIGSTOP');
    sentinel.master.port = a.port;
    const late = onB.duplicate();
    late.on('error', () => {});
    cleanups.push(() => late.disconnect());
    await until('the late connection on the frozen primary', () => late.status === 'connect' && late.stream?.remotePort === a.port);
    sentinel.master.port = b.port;

    const answer = await Promise.race([late.ping(), sleep(WAIT_LIMIT_MS).then(() => 'no answer')]);
    expect(answer).toBe('PONG');
    expect(late.stream.remotePort).toBe(b.port);
  });
});

/** IPv6 on loopback (some container runners switch it off): needed to reach a Sentinel's IPv4-mapped address. */
const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = createServer().once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});
if (!ipv6) console.warn('sentinel-failover-watch: no IPv6 on loopback here, so the IPv4-mapped address case is skipped');

describe("the watch's periodic check in steady state", () => {
  /** Connects through `sentinel` and counts how often the connection is cut, over two checks after it is ready. */
  async function cutsOverTwoChecks(sentinel: FakeSentinel, duringChecks: () => () => void = () => () => {}): Promise<{ cuts: number; pings: string[] }> {
    const redis = redisConnection(target(sentinel), 'producer');
    redis.on('error', () => {});
    cleanups.push(() => redis.disconnect());
    await once(redis, 'ready');
    let cuts = 0;
    redis.on('reconnecting', () => cuts++);
    const restore = duringChecks();
    try {
      // Each check asks once; the first connection's own lookups are done by now.
      const asked = sentinel.asked();
      await until('two periodic checks', () => sentinel.asked() >= asked + 2);
      return { cuts, pings: [await redis.ping()] };
    } finally {
      restore();
    }
  }

  it('cuts no healthy connection when the name the Sentinels give cannot be resolved for a while (a DNS hiccup)', { timeout: 60_000 }, async () => {
    const redis = await redisServer();
    const sentinel = await fakeSentinel({ host: 'localhost', port: redis.port });
    const failingLookup = () => {
      const original = dns.promises.lookup;
      dns.promises.lookup = (async () => Promise.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN localhost'), { code: 'EAI_AGAIN' }))) as never;
      syncBuiltinESMExports();
      return () => {
        dns.promises.lookup = original;
        syncBuiltinESMExports();
      };
    };
    expect(await cutsOverTwoChecks(sentinel, failingLookup)).toEqual({ cuts: 0, pings: ['PONG'] });
  });

  // As a Sentinel may name it word for word from its configuration; the socket reports the standard form.
  it.skipIf(!ipv6)('cuts no healthy connection when the Sentinels name it by an IPv4-mapped IPv6 address, in any written form', { timeout: 60_000 }, async () => {
    for (const host of ['::ffff:127.0.0.1', '::FFFF:7f00:1']) {
      const redis = await redisServer();
      const sentinel = await fakeSentinel({ host, port: redis.port });
      expect(await cutsOverTwoChecks(sentinel), host).toEqual({ cuts: 0, pings: ['PONG'] });
    }
  });
});
