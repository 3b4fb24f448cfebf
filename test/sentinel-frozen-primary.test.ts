import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki } from './support/certs.js';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots } from './support/pas.js';
import { type SentinelCluster, type SentinelClusterOptions, startSentinelCluster } from './support/sentinel.js';
import { Stack } from './support/stack.js';

/**
 * Redis Sentinel failover away from a primary that stops answering without closing its sockets
 * (frozen with SIGSTOP, as a paused VM or a network cut leaves it), where sentinel-failover.test.ts
 * SIGKILLs it. Nothing errors on the old connections, so facade and worker must follow the
 * Sentinels' announcement of the promoted replica to book again, without a restart.
 *
 * JOB_TIMEOUT_MS is long on purpose: a booking answered 201 within the per-request wait limit
 * came back through the facade's event stream, so the producer, the facade's event reader and the
 * worker's blocking reader all reached the new primary. Run plain, and with TLS, an ACL user and a
 * Sentinel password (the Sentinels' announcements then come over TLS, after AUTH), and with the
 * announcement never reaching facade and worker (they learn of the promotion by asking the
 * Sentinels every few seconds). Only generous wait limits, no timing.
 */

/** How long anything here may take before it counts as never (a wait limit, not a measurement). */
const WAIT_LIMIT_MS = 30_000;

interface Setup {
  cluster: SentinelClusterOptions;
  /** The settings for facade and worker beyond the Sentinel list and master name. */
  env: Record<string, string>;
  /** The Sentinel login given to facade and worker may not subscribe: only the periodic check can follow the failover. */
  subscribeRefused?: boolean;
}

const plain = async (): Promise<Setup> => ({ cluster: {}, env: { REDIS_URL: 'redis://sentinel-mode.invalid' } });

/**
 * The Sentinels wait 12 s before they call the primary down, as real ones do (30 s by default, 5 s
 * in docker/compose.sentinel.yaml): by then BullMQ's watchdog (its 5 s blocking read + 1 s) has
 * ended the worker's blocking connection and reconnected it to the primary the Sentinels still
 * name, the frozen one, whose kernel accepts the socket while its ready check never answers.
 */
const slowSentinels = async (): Promise<Setup> => ({ ...(await plain()), cluster: { downAfterMs: 12_000 } });

/**
 * Facade and worker miss the announcement: the Sentinels' ACL user they log in with may ask for the
 * primary but not subscribe (`-@pubsub`), as when every subscription is down at that moment. They
 * must still find out from the Sentinels, by asking them.
 */
const noAnnouncements = async (): Promise<Setup> => ({
  cluster: { sentinelAcl: ['user booking-watch on >watch-secret-0123 ~* &* +@all -@pubsub'] },
  env: { REDIS_URL: 'redis://sentinel-mode.invalid', REDIS_SENTINEL_USERNAME: 'booking-watch', REDIS_SENTINEL_PASSWORD: 'watch-secret-0123' },
  subscribeRefused: true,
});

const tlsAndAcl = async (dir: string): Promise<Setup> => {
  const pki = await makeTestPki(dir);
  const user = { name: 'booking', password: 'booking-secret-0123' };
  return {
    cluster: { tls: pki.files, user, sentinelPassword: 'sentinel-secret-0123' },
    env: { REDIS_URL: `rediss://${user.name}:${user.password}@sentinel-mode.invalid/0`, REDIS_SENTINEL_PASSWORD: 'sentinel-secret-0123', REDIS_TLS_CA_FILE: pki.files.ca },
  };
};

describe.each([
  ['plain', plain],
  ['TLS, ACL user and Sentinel password', tlsAndAcl],
  ['plain, promoted after the worker reconnected to it', slowSentinels],
  ['plain, the announcement missed', noAnnouncements],
])('Redis Sentinel failover away from a frozen primary (%s)', (_name, setUp) => {
  const dir = mkdtempSync(join(tmpdir(), 'booking-frozen-primary-'));
  let cluster: SentinelCluster;
  let stack: Stack;
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(dir);
    cluster = await startSentinelCluster(setup.cluster);
    const env = { ...setup.env, REDIS_SENTINELS: cluster.sentinelList, REDIS_SENTINEL_MASTER: cluster.masterName, RECONCILE_INTERVAL_SECONDS: '0', JOB_TIMEOUT_MS: '60000' };
    stack = await Stack.start({ redisUrl: setup.env.REDIS_URL as string, workers: 1, facades: 1, env });
  }, 120_000);
  afterAll(async () => {
    cluster?.primary.process.kill('SIGCONT');
    await stack?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('books again once the Sentinels have promoted the replica, with the same processes', { timeout: 180_000 }, async () => {
    const db = stack.openPas();
    const slots = freeSlots(db, '999999999', 100);
    db.close();
    const book = async (slot: SlotForBooking): Promise<number | 'no answer'> => {
      try {
        const res = await fetch(`${stack.baseUrl}/Appointment`, { method: 'POST', headers: consumerHeaders(stack.baseUrl, 'book', { 'X-Request-ID': randomUUID() }), body: JSON.stringify(bookingBody(slot)), signal: AbortSignal.timeout(WAIT_LIMIT_MS / 2) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 'no answer';
      }
    };
    const pids = [...stack.workers, ...stack.facades].map((p) => p.child.pid);
    expect(await book(slots.shift() as SlotForBooking)).toBe(201);
    if (setup.subscribeRefused) {
      // The premise: with this login no announcement can reach facade or worker.
      const asThem = new Redis({ host: '127.0.0.1', port: cluster.sentinels[0]?.port, username: setup.env.REDIS_SENTINEL_USERNAME, password: setup.env.REDIS_SENTINEL_PASSWORD, lazyConnect: true });
      try {
        await expect(asThem.subscribe('+switch-master')).rejects.toThrow(/NOPERM/);
      } finally {
        asThem.disconnect();
      }
    }

    cluster.primary.process.kill('SIGSTOP');
    const promoted = `127.0.0.1:${cluster.replica.port}`;
    // Twice the limit: down-after, then an election that may need a second round.
    for (const giveUp = Date.now() + 2 * WAIT_LIMIT_MS; (await cluster.currentPrimary()) !== promoted; await sleep(100)) {
      if (Date.now() > giveUp) throw new Error('the Sentinels did not promote the replica');
    }

    const answers: (number | 'no answer')[] = [];
    for (const giveUp = Date.now() + WAIT_LIMIT_MS; answers.at(-1) !== 201 && Date.now() < giveUp; ) {
      answers.push(await book(slots.shift() as SlotForBooking));
      if (answers.at(-1) !== 201) await sleep(200);
    }
    expect(answers.at(-1), `answers after the promotion: ${answers.join(' ')}`).toBe(201);
    // Booking goes on, on the same processes.
    expect(await book(slots.shift() as SlotForBooking)).toBe(201);
    expect([...stack.workers, ...stack.facades].map((p) => (p.child.exitCode === null ? p.child.pid : undefined))).toEqual(pids);
  });
});
