import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkConsistency, SQLITE_TABLES } from '@booking/pas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { facadeSchema } from '../apps/facade/src/config.js';
import { workerSchema } from '../apps/worker/src/config.js';
import { makeTestPki } from './support/certs.js';
import { bookingBody, consumerHeaders, type SlotForBooking } from './support/consumer.js';
import { freeSlots, pasCounts } from './support/pas.js';
import { type SentinelCluster, startSentinelCluster } from './support/sentinel.js';
import { REPO_ROOT, Stack } from './support/stack.js';

/**
 * Redis Sentinel failover under load (issue 13, part 1): two facades and two workers reach Redis
 * through three Sentinels; during 600 bookings made by 300 concurrent clients the primary is
 * SIGKILLed and the Sentinels promote the replica. Each client retries an unknown outcome (a 5xx
 * or no answer) with the same X-Request-ID until it is decided, as the Booking API tells consumers
 * to. Afterwards every booking is made exactly once, no slot is double-booked, and the very same
 * facade and worker processes serve on. The failover window seen by the clients is printed; no
 * timing is asserted (only generous bounds on waits, so a hang fails instead of running forever).
 */

const CLIENTS = 300;
const BOOKINGS = 600;
/** Kill the primary once this many bookings are decided: the other clients are mid-request. */
const KILL_AFTER = 100;
/** A client gives up on a booking only after this long (a hang, not a slow machine). */
const DECIDE_WITHIN_MS = 180_000;

interface Answer {
  at: number;
  status: number | 'network';
  diagnostics?: string;
}

interface Booking {
  slot: SlotForBooking;
  requestId: string;
  baseUrl: string;
  answers: Answer[];
  appointmentId?: string;
}

async function send(booking: Booking): Promise<Answer> {
  try {
    const res = await fetch(`${booking.baseUrl}/Appointment`, {
      method: 'POST',
      headers: consumerHeaders(booking.baseUrl, 'book', { 'X-Request-ID': booking.requestId }),
      body: JSON.stringify(bookingBody(booking.slot)),
      signal: AbortSignal.timeout(60_000),
    });
    const json = (await res.json()) as { id?: string; issue?: { diagnostics?: string }[] };
    if (res.status === 201) booking.appointmentId = json.id;
    if (res.status === 409) booking.appointmentId = /Appointment\/([^/]+)\/_history/.exec(res.headers.get('content-location') ?? '')?.[1];
    return { at: Date.now(), status: res.status, ...(res.status >= 500 ? { diagnostics: json.issue?.[0]?.diagnostics ?? '' } : {}) };
  } catch {
    return { at: Date.now(), status: 'network' };
  }
}

const unknown = (a: Answer | undefined) => a === undefined || a.status === 'network' || a.status >= 500;

/** One consumer: books, and while the outcome is unknown asks again with the same X-Request-ID. */
async function decide(booking: Booking): Promise<void> {
  const giveUp = Date.now() + DECIDE_WITHIN_MS;
  for (;;) {
    const answer = await send(booking);
    booking.answers.push(answer);
    if (!unknown(answer) || Date.now() > giveUp) return;
    await sleep(200);
  }
}

/** `booking-facade doctor --json` with these settings. */
function doctor(env: Record<string, string>): Promise<{ results: { status: string; check: string; subject: string; message: string }[] }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REDIS_|PAS_|QUEUE_|FACADE_|ADMIN_|AUDIT_DIR|CONFIG_FILE)/.test(k)));
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/cli/src/main.ts', 'doctor', '--app', 'facade', '--json'], { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', () => {
      clearTimeout(timer);
      resolve(JSON.parse(out));
    }),
  );
}

describe('Redis Sentinel failover under load', () => {
  let cluster: SentinelCluster;
  let stack: Stack;
  let sentinelEnv: Record<string, string>;

  beforeAll(async () => {
    cluster = await startSentinelCluster();
    // REDIS_URL names no server here: the Sentinels name the primary.
    sentinelEnv = { REDIS_URL: 'redis://sentinel-mode.invalid', REDIS_SENTINELS: cluster.sentinelList, REDIS_SENTINEL_MASTER: cluster.masterName };
    stack = await Stack.start({ redisUrl: sentinelEnv.REDIS_URL as string, workers: 2, facades: 2, slotCount: BOOKINGS + 200, env: { ...sentinelEnv, JOB_TIMEOUT_MS: '5000' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await cluster?.stop();
  });

  it(`decides all of ${BOOKINGS} bookings by ${CLIENTS} concurrent clients across a SIGKILL of the primary, each exactly once`, { timeout: 400_000 }, async () => {
    const db = stack.openPas();
    const slots = freeSlots(db, '999999999', BOOKINGS + 1);
    db.close();
    expect(slots.length).toBe(BOOKINGS + 1);
    const spare = slots.pop() as SlotForBooking;
    const pids = [...stack.workers, ...stack.facades].map((p) => p.child.pid);
    expect(await cluster.currentPrimary()).toBe(`127.0.0.1:${cluster.primary.port}`);
    const before = await doctor({ ...sentinelEnv, QUEUE_ENCRYPTION_KEYS: stack.queueKeys, FACADE_TLS: 'off' });
    expect(before.results.find((r) => r.subject === 'REDIS_SENTINELS')).toMatchObject({ status: 'ok', message: expect.stringContaining(`3/3 Sentinels reachable; primary of ${cluster.masterName}: 127.0.0.1:${cluster.primary.port}`) });

    const bookings: Booking[] = slots.map((slot, i) => ({ slot, requestId: randomUUID(), baseUrl: (stack.facades[i % 2] as { baseUrl: string }).baseUrl, answers: [] }));
    let next = 0;
    let decided = 0;
    let killedAt: number | undefined;
    let promotedAt: number | undefined;
    const watchPromotion = async () => {
      while (promotedAt === undefined) {
        if ((await cluster.currentPrimary()) === `127.0.0.1:${cluster.replica.port}`) promotedAt = Date.now();
        else await sleep(50);
      }
    };
    let watching: Promise<void> | undefined;
    const client = async () => {
      while (next < bookings.length) {
        await decide(bookings[next++] as Booking);
        if (++decided === KILL_AFTER) {
          killedAt = Date.now();
          cluster.primary.process.kill('SIGKILL');
          watching = watchPromotion();
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await watching;

    // The failover as the clients saw it.
    const all = bookings.flatMap((b) => b.answers);
    const failedBefore = all.filter((a) => unknown(a) && a.at < (killedAt as number)).length;
    const failed = all.filter((a) => unknown(a) && a.at >= (killedAt as number)).sort((a, b) => a.at - b.at);
    const since = (t: number | undefined) => (t === undefined || killedAt === undefined ? 'n/a' : `${((t - killedAt) / 1000).toFixed(1)} s`);
    const kinds = failed.reduce<Record<string, number>>((acc, a) => {
      const kind = a.status === 'network' ? 'no answer' : `${a.status} ${/outcome is unknown/i.test(a.diagnostics ?? '') ? 'outcome unknown' : /temporarily unavailable/.test(a.diagnostics ?? '') ? 'queue unavailable' : (a.diagnostics ?? '').slice(0, 60)}`;
      acc[kind] = (acc[kind] ?? 0) + 1;
      return acc;
    }, {});
    const firstFailure = failed[0]?.at;
    const lastFailure = failed.at(-1)?.at;
    console.info(
      `[sentinel-failover] ${BOOKINGS} bookings, ${CLIENTS} clients; primary SIGKILLed after ${KILL_AFTER} decided; Sentinels named the replica after ${since(promotedAt)}; ` +
        `after the kill clients saw ${failed.length} unknown outcomes ${JSON.stringify(kinds)} from ${since(firstFailure)} to ${since(lastFailure)} after the kill: ` +
        `failover window ${firstFailure !== undefined && lastFailure !== undefined ? ((lastFailure - firstFailure) / 1000).toFixed(1) : '0.0'} s of 5xx (and ${failedBefore} before the kill, from load alone); ` +
        `${bookings.filter((b) => b.answers.length > 1).length} bookings needed same-id retries (at most ${Math.max(...bookings.map((b) => b.answers.length)) - 1})`,
    );

    const stuck = bookings.filter((b) => unknown(b.answers.at(-1)));
    if (stuck.length) console.error(`undecided by facade: ${JSON.stringify(stuck.reduce<Record<string, number>>((acc, b) => ({ ...acc, [b.baseUrl]: (acc[b.baseUrl] ?? 0) + 1 }), {}))}; last: ${JSON.stringify(stuck[0]?.answers.at(-1))}\n${stack.logs()}`);
    expect(killedAt).toBeDefined();
    expect(await cluster.currentPrimary()).toBe(`127.0.0.1:${cluster.replica.port}`);
    // Every booking decided, and decided as booked: 201, or 409 naming the booking its first try made.
    const undecided = bookings.filter((b) => unknown(b.answers.at(-1)));
    expect(undecided.map((b) => ({ slot: b.slot.id, answers: b.answers.map((a) => a.status) }))).toEqual([]);
    const notBooked = bookings.filter((b) => ![201, 409].includes(b.answers.at(-1)?.status as number) || !b.appointmentId);
    expect(notBooked.map((b) => ({ slot: b.slot.id, answers: b.answers.map((a) => a.status) }))).toEqual([]);

    // Exactly once: one appointment per booking, each in the PAS, none lost, none twice, no slot double-booked.
    const ids = new Set(bookings.map((b) => b.appointmentId));
    expect(ids.size).toBe(BOOKINGS);
    const pas = stack.openPas();
    try {
      const report = await checkConsistency(async (sql) => pas.prepare(sql).all() as Record<string, unknown>[], SQLITE_TABLES);
      expect(report.findings).toEqual([]);
      const counts = pasCounts(pas);
      expect(counts).toMatchObject({ appointments: BOOKINGS, activeAppointments: BOOKINGS, fhirAppointments: BOOKINGS, requests: BOOKINGS, doubleBookedSlots: 0 });
      const stored = new Set((pas.prepare('SELECT APPOINTMENT_ID FROM booking_FHIR_APPOINTMENT').all() as { APPOINTMENT_ID: string }[]).map((r) => r.APPOINTMENT_ID));
      for (const id of ids) expect(stored.has(id as string)).toBe(true);
    } finally {
      pas.close();
    }

    // The same processes serve on, on the promoted replica: no restart.
    expect([...stack.workers, ...stack.facades].map((p) => ({ pid: p.child.pid, running: p.child.exitCode === null && p.child.signalCode === null }))).toEqual(pids.map((pid) => ({ pid, running: true })));
    for (const facade of stack.facades) await stack.waitReady(facade);
    const after: Booking = { slot: spare, requestId: randomUUID(), baseUrl: stack.baseUrl, answers: [] };
    expect((await send(after)).status).toBe(201);

    // doctor follows the Sentinels to the new primary.
    const report = await doctor({ ...sentinelEnv, QUEUE_ENCRYPTION_KEYS: stack.queueKeys, FACADE_TLS: 'off' });
    expect(report.results.find((r) => r.subject === 'REDIS_SENTINELS')).toMatchObject({ status: 'ok', message: expect.stringContaining(`primary of ${cluster.masterName}: 127.0.0.1:${cluster.replica.port}`) });
    expect(report.results.find((r) => r.check === 'redis' && r.subject === 'REDIS_URL')).toMatchObject({ status: 'ok', message: expect.stringMatching(/^PONG from Redis/) });
  });
});

describe('Redis Sentinel with TLS and ACL users', () => {
  const dir = mkdtempSync(join(tmpdir(), 'booking-sentinel-tls-'));
  let cluster: SentinelCluster;
  let stack: Stack;
  let env: Record<string, string>;

  beforeAll(async () => {
    const pki = await makeTestPki(dir);
    const user = { name: 'booking', password: 'booking-secret-0123' };
    cluster = await startSentinelCluster({ tls: pki.files, user, sentinelPassword: 'sentinel-secret-0123' });
    env = {
      // TLS (rediss://) to the primary and, following it, to the Sentinels; the ACL user of the primary.
      REDIS_URL: `rediss://${user.name}:${user.password}@sentinel-mode.invalid/0`,
      REDIS_SENTINELS: cluster.sentinelList,
      REDIS_SENTINEL_MASTER: cluster.masterName,
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret-0123',
      REDIS_TLS_CA_FILE: pki.files.ca,
    };
    stack = await Stack.start({ redisUrl: env.REDIS_URL as string, workers: 1, facades: 1, env: { ...env, JOB_TIMEOUT_MS: '5000' } });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('books over TLS through the Sentinels with the ACL user, and again after a failover', { timeout: 180_000 }, async () => {
    const db = stack.openPas();
    const [first, second] = freeSlots(db, '999999999', 2) as [SlotForBooking, SlotForBooking];
    db.close();
    const booking = (slot: SlotForBooking): Booking => ({ slot, requestId: randomUUID(), baseUrl: stack.baseUrl, answers: [] });
    expect((await send(booking(first))).status).toBe(201);
    const report = await doctor({ ...env, QUEUE_ENCRYPTION_KEYS: stack.queueKeys, FACADE_TLS: 'off' });
    expect(report.results.find((r) => r.subject === 'REDIS_SENTINELS')).toMatchObject({ status: 'ok' });
    expect(report.results.find((r) => r.check === 'redis' && r.subject === 'REDIS_URL')).toMatchObject({ status: 'ok', message: expect.stringMatching(/^PONG from Redis .* at rediss:\/\/booking:\*\*\*@/) });
    expect(JSON.stringify(report)).not.toMatch(/secret-0123/);

    cluster.primary.process.kill('SIGKILL');
    const after = booking(second);
    await decide(after);
    expect([201, 409]).toContain(after.answers.at(-1)?.status);
    expect(await cluster.currentPrimary()).toBe(`127.0.0.1:${cluster.replica.port}`);

    // A Sentinel lost: doctor warns (two still make a quorum), naming the one it cannot reach.
    const lost = cluster.sentinels[2] as SentinelCluster['sentinels'][number];
    lost.process.kill('SIGKILL');
    const degraded = await doctor({ ...env, QUEUE_ENCRYPTION_KEYS: stack.queueKeys, FACADE_TLS: 'off' });
    expect(degraded.results.find((r) => r.subject === 'REDIS_SENTINELS')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining(`2/3 Sentinels reachable (not 127.0.0.1:${lost.port}); primary of ${cluster.masterName}: 127.0.0.1:${cluster.replica.port}`),
    });
  });
});

describe('docker/compose.sentinel.yaml', () => {
  type Service = { environment?: Record<string, string>; secrets?: string[] };
  const file = parse(readFileSync(join(REPO_ROOT, 'docker/compose.sentinel.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; secrets: Record<string, unknown> };

  it('hands facade, worker and cli only real settings, with every secret it names defined', () => {
    for (const [name, schema] of [['facade', facadeSchema], ['worker', workerSchema], ['cli', facadeSchema]] as const) {
      const service = file.services[name] as Service;
      for (const key of Object.keys(service.environment ?? {})) expect(schema.shape, `${name}: ${key}`).toHaveProperty(key.replace(/_FILE$/, ''));
      expect(service.environment).toMatchObject({ REDIS_SENTINELS: 'sentinel-1:26379,sentinel-2:26379,sentinel-3:26379', REDIS_SENTINEL_MASTER: 'booking' });
      for (const secret of service.secrets ?? []) if (secret.startsWith('redis')) expect(file.secrets, secret).toHaveProperty(secret);
    }
    expect(Object.keys(file.services).filter((s) => s.startsWith('sentinel-'))).toHaveLength(3);
  });
});
