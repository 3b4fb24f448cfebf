import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPasScreens } from '@booking/pas';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freeSlots } from './support/pas.js';
import { consumer } from './support/pas-truth.js';
import { metricValue, scrape } from './support/prometheus.js';
import { type ManagedProcess, REPO_ROOT, spawnTs, Stack } from './support/stack.js';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis, stopProcess } from './support/redis.js';
import { type SentinelCluster, startSentinelCluster } from './support/sentinel.js';

/**
 * The background reconciler with real worker processes, Redis and the SQLite demo PAS: a change
 * made on the PAS's screens becomes a version with nobody reading; two workers never sweep at the
 * same time; a wrong setting stops the worker with one line naming it.
 */

/** Waits for a condition, polling; fails with `what` and the stack's logs. */
async function until(stack: Stack, what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}\n${stack.logs()}`);
}

interface SweepLine {
  pid: number;
  outcome: string;
  checked: number;
  startedAt: number;
  finishedAt: number;
}

/** The "reconcile sweep done" log lines of a worker (pino JSON). */
function sweeps(worker: ManagedProcess): SweepLine[] {
  return worker.output
    .join('')
    .split('\n')
    .filter((line) => line.includes('"reconcile sweep done"'))
    .map((line) => JSON.parse(line) as SweepLine);
}

describe('with nobody reading', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: { RECONCILE_INTERVAL_SECONDS: '1' } });
  });
  afterAll(async () => stack?.stop());

  it('the reconciler records an appointment cancelled in the PAS as version 2 and counts the change', async () => {
    const db = stack.openPas();
    const [slot] = freeSlots(db, '999999999', 1);
    db.close();
    const api = consumer(stack.baseUrl);
    const booked = await api.book(slot as never);
    expect(booked.status).toBe(201);
    const id = booked.body.id as string;

    const screens = await openPasScreens({ sqlitePath: stack.pasPath });
    try {
      await screens.cancel(id, 'patient');
    } finally {
      await screens.close();
    }
    // No API call from here until the version is there: only the reconciler can have written it.
    const version = () => {
      const pas = stack.openPas();
      try {
        return pas.prepare('SELECT CURRENT_VERSION AS v, STATUS AS s FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?').get(id) as { v: number; s: string };
      } finally {
        pas.close();
      }
    };
    await until(stack, 'the reconciler to record version 2', () => version().v === 2);
    expect(version()).toEqual({ v: 2, s: 'cancelled' });

    const worker = stack.workers[0] as ManagedProcess;
    const metrics = await scrape(worker.adminUrl as string);
    expect(metricValue(metrics, 'booking_pas_changes_total', { kind: 'status', via: 'reconcile' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'booking_pas_changes_total', { via: 'read' })).toBe(0);
    expect(metricValue(metrics, 'booking_reconcile_sweeps_total', { outcome: 'complete' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'booking_reconcile_checked_total')).toBeGreaterThanOrEqual(1);
    expect(metricValue(metrics, 'booking_reconcile_sweep_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // Every PAS-change and reconciler metric the Grafana dashboard plots is one the worker exports.
    const dashboard = readFileSync(join(REPO_ROOT, 'docker/grafana/booking-facade.json'), 'utf8');
    const plotted = new Set([...dashboard.matchAll(/booking_(?:pas_changes|pas_unknown_codes|reconcile)_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
    expect(plotted.size).toBeGreaterThanOrEqual(5);
    for (const name of plotted) expect(metrics, name).toContain(`# TYPE ${name} `);

    // What the consumer reads afterwards is that version, not a third one.
    const read = await api.read(id);
    expect(read.body).toMatchObject({ status: 'cancelled', meta: { versionId: '2' } });
    expect((await api.vread(id, '2')).body.status).toBe('cancelled');
  });
});

describe('two workers', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Sweeps slowed (one appointment per page, a pause between pages) so that one outlasts the
    // interval: BullMQ then offers the next iteration to the other worker while the first sweeps.
    stack = await Stack.start({
      redisUrl: inject('redisUrl'),
      workers: 2,
      env: { RECONCILE_INTERVAL_SECONDS: '1', RECONCILE_PAGE_SIZE: '1', RECONCILE_PAUSE_MS: '300', LOG_LEVEL: 'info' },
    });
  });
  afterAll(async () => stack?.stop());

  it('never sweep at the same time, although the schedule offers overlapping sweeps', async () => {
    const db = stack.openPas();
    const slots = freeSlots(db, '999999999', 6);
    db.close();
    const api = consumer(stack.baseUrl);
    for (const slot of slots) expect((await api.book(slot)).status).toBe(201);

    const all = () => stack.workers.flatMap(sweeps);
    await until(stack, 'four full sweeps', () => all().filter((s) => s.checked >= 6).length >= 4, 45000);

    const done = all().sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < done.length; i++) {
      const [before, after] = [done[i - 1] as SweepLine, done[i] as SweepLine];
      expect(after.startedAt, `sweep ${i} (pid ${after.pid}) started before sweep ${i - 1} (pid ${before.pid}) finished`).toBeGreaterThanOrEqual(before.finishedAt);
    }
    // The schedule did offer a sweep while another ran (else the test would prove nothing): the
    // worker that got it found the lock taken and skipped it.
    let skipped = 0;
    for (const w of stack.workers) skipped += metricValue(await scrape(w.adminUrl as string), 'booking_reconcile_sweeps_total', { outcome: 'skipped' });
    expect(skipped).toBeGreaterThanOrEqual(1);
  });
});

describe('when Redis loses its keys', () => {
  let redis: RedisServer;
  let stack: Stack;
  beforeAll(async () => {
    // A Redis of its own: it is restarted empty and flushed (as the demo's, which runs without persistence).
    redis = await startRedis();
    stack = await Stack.start({ redisUrl: redis.url, workers: 1, facades: 0, env: { RECONCILE_INTERVAL_SECONDS: '1', LOG_LEVEL: 'info' } });
  });
  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('the worker schedules the sweeps again, with a warning, after a restart of an empty Redis and after FLUSHALL', async () => {
    const worker = stack.workers[0] as ManagedProcess;
    const warnings = () => worker.output.join('').split('\n').filter((line) => line.includes('reconcile schedule was missing')).length;
    await until(stack, 'a first sweep', () => sweeps(worker).length >= 1);

    await redis.restart();
    const atRestart = sweeps(worker).length;
    await until(stack, 'sweeps after Redis restarted empty', () => sweeps(worker).length >= atRestart + 2);
    expect(warnings()).toBeGreaterThanOrEqual(1);

    // No reconnection this time: the keys vanish under a live connection.
    const client = new Redis(redis.url);
    try {
      await until(stack, 'the schedule to exist again', async () => (await client.exists(`${stack.queuePrefix}:pas-reconcile:repeat`)) === 1);
      await client.flushall();
    } finally {
      client.disconnect();
    }
    const warnedBefore = warnings();
    await until(stack, 'a warning that the schedule was put back', () => warnings() > warnedBefore);
    const atFlush = sweeps(worker).length;
    await until(stack, 'sweeps after FLUSHALL', () => sweeps(worker).length >= atFlush + 2);
  });
});

describe('with Redis Sentinel', () => {
  let cluster: SentinelCluster;
  let stack: Stack;
  beforeAll(async () => {
    cluster = await startSentinelCluster();
    // REDIS_URL's host is not used with Sentinels: the reconciler must find the primary as the worker does.
    const env = { REDIS_URL: 'redis://sentinel-mode.invalid', REDIS_SENTINELS: cluster.sentinelList, REDIS_SENTINEL_MASTER: cluster.masterName, RECONCILE_INTERVAL_SECONDS: '1', LOG_LEVEL: 'info' };
    stack = await Stack.start({ redisUrl: env.REDIS_URL, workers: 1, facades: 0, env });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await cluster?.stop();
  });

  it('schedules and runs sweeps on the primary the Sentinels name', async () => {
    const worker = stack.workers[0] as ManagedProcess;
    await until(stack, 'a reconcile sweep', () => sweeps(worker).length >= 1);
    expect(worker.output.join('')).not.toContain('reconcile worker error');
  });
});

describe('settings', () => {
  it('a worker with a wrong reconciler setting exits 78 with one line naming it', async () => {
    const worker = spawnTs('apps/worker/src/main.ts', { QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`, REDIS_URL: inject('redisUrl'), WORKER_ADMIN_PORT: '0', RECONCILE_INTERVAL_SECONDS: 'every minute' }, 'bad-worker');
    const code = await new Promise<number | null>((resolve) => worker.child.once('exit', (c) => resolve(c)));
    await stopProcess(worker.child);
    expect(code).toBe(78);
    const output = worker.output.join('').trim();
    expect(output).toMatch(/^worker: configuration error: RECONCILE_INTERVAL_SECONDS: [^\n]*; got "every minute"$/);
  });
});
