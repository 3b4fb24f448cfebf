import { randomUUID } from 'node:crypto';
import { type ReconcileQuery, type ReconcileResult, TransientPasError } from '@booking/pas';
import { redisConnection } from '@booking/queue';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadWorkerConfig } from '../apps/worker/src/config.js';
import { createSweeper } from '../apps/worker/src/reconciler.js';

/**
 * The reconciler's sweep rules on a real Redis with a stand-in PAS: keyset paging, the bound per
 * sweep, carrying on where the last sweep stopped, and the cross-worker lock. (Real worker
 * processes and a real PAS: reconciler.test.ts.)
 */

const redis = redisConnection(inject('redisUrl'), 'worker');
afterAll(() => redis.disconnect());
const logger = pino({ level: 'silent' });

/** A PAS with appointments 1..n; records every query it was asked. */
function fakePas(n: number, gate?: Promise<void>) {
  const queries: ReconcileQuery[] = [];
  return {
    queries,
    async reconcile(query: ReconcileQuery): Promise<ReconcileResult> {
      queries.push(query);
      await gate;
      const from = query.after === undefined ? 1 : Number(query.after) + 1;
      const to = Math.min(n, from + query.limit - 1);
      const checked = Math.max(0, to - from + 1);
      // Appointment 7 cannot be composed: the PAS passes over it and says so.
      const unreadable = from <= 7 && 7 <= to ? 1 : 0;
      return { checked, versioned: checked > 0 ? 1 : 0, unreadable, ...(to < n ? { next: String(to) } : {}) };
    },
  };
}

function sweeper(pas: ReturnType<typeof fakePas>, settings: { maxPerSweep: number; pageSize: number }, prefix = `r${randomUUID().slice(0, 8)}`) {
  return createSweeper({ redis, pas, prefix, settings: { intervalSeconds: 60, pauseMs: 0, ...settings }, logger, retryPolicy: { maxRetries: 0, budgetMs: 0 } });
}

describe('a reconciler sweep', () => {
  it('pages by keyset until the end when the bound allows', async () => {
    const pas = fakePas(25);
    const report = await sweeper(pas, { maxPerSweep: 1000, pageSize: 10 })();
    expect(report).toMatchObject({ outcome: 'complete', checked: 25, versioned: 3, unreadable: 1 });
    expect(pas.queries.map((q) => [q.after, q.limit])).toEqual([
      [undefined, 10],
      ['10', 10],
      ['20', 10],
    ]);
    expect(new Set(pas.queries.map((q) => q.now)).size).toBe(1);
  });

  it('stops at the bound and the next sweep carries on from there, then starts over', async () => {
    const pas = fakePas(25);
    const sweep = sweeper(pas, { maxPerSweep: 12, pageSize: 5 });
    expect(await sweep()).toMatchObject({ outcome: 'partial', checked: 12 });
    expect(pas.queries.map((q) => [q.after, q.limit])).toEqual([
      [undefined, 5],
      ['5', 5],
      ['10', 2],
    ]);
    pas.queries.length = 0;
    expect(await sweep()).toMatchObject({ outcome: 'partial', checked: 12 });
    expect(pas.queries[0]?.after).toBe('12');
    expect(await sweep()).toMatchObject({ outcome: 'complete', checked: 1 });
    pas.queries.length = 0;
    expect(await sweep()).toMatchObject({ outcome: 'partial', checked: 12 });
    expect(pas.queries[0]?.after).toBeUndefined();
  });

  it('is skipped while another sweep of the same queue prefix holds the lock, and runs once it is released', async () => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const prefix = `r${randomUUID().slice(0, 8)}`;
    const slow = fakePas(3, gate);
    const other = fakePas(3);
    const first = sweeper(slow, { maxPerSweep: 100, pageSize: 10 }, prefix)();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sweeper(other, { maxPerSweep: 100, pageSize: 10 }, prefix)()).toMatchObject({ outcome: 'skipped', checked: 0 });
    expect(other.queries).toEqual([]);
    open();
    expect(await first).toMatchObject({ outcome: 'complete', checked: 3 });
    expect(await sweeper(other, { maxPerSweep: 100, pageSize: 10 }, prefix)()).toMatchObject({ outcome: 'complete', checked: 3 });
  });

  it('ends after the current page when the worker stops, and the next sweep carries on from there', async () => {
    const prefix = `r${randomUUID().slice(0, 8)}`;
    const pas = fakePas(30);
    // The worker is told to stop while the first page is being read.
    let sweep: ReturnType<typeof createSweeper> | undefined;
    const stoppedMidway = { queries: pas.queries, reconcile: async (q: ReconcileQuery) => (sweep?.stop(), pas.reconcile(q)) };
    sweep = createSweeper({ redis, pas: stoppedMidway, prefix, settings: { intervalSeconds: 60, pauseMs: 0, maxPerSweep: 100, pageSize: 5 }, logger, retryPolicy: { maxRetries: 0, budgetMs: 0 } });
    expect(await sweep()).toMatchObject({ outcome: 'partial', checked: 5 });
    pas.queries.length = 0;
    expect(await sweeper(pas, { maxPerSweep: 100, pageSize: 5 }, prefix)()).toMatchObject({ outcome: 'complete', checked: 25 });
    expect(pas.queries[0]?.after).toBe('5');
  });

  it('retries a page the PAS failed transiently (deadlock, busy) and counts the retry', async () => {
    const pas = fakePas(8);
    let failures = 1;
    const busy = { queries: pas.queries, reconcile: async (q: ReconcileQuery) => {
      if (q.after === '4' && failures-- > 0) throw new TransientPasError('database is locked');
      return pas.reconcile(q);
    } };
    let retries = 0;
    const sweep = createSweeper({ redis, pas: busy, prefix: `r${randomUUID().slice(0, 8)}`, settings: { intervalSeconds: 60, pauseMs: 0, maxPerSweep: 100, pageSize: 4 }, logger, metrics: { sweep: () => {}, pasRetry: () => retries++ }, retryPolicy: { maxRetries: 3, budgetMs: 5000, baseDelayMs: 1 } });
    expect(await sweep()).toMatchObject({ outcome: 'complete', checked: 8 });
    expect(retries).toBe(1);
  });

  it('releases the lock when the PAS fails, and the next sweep retries the same page', async () => {
    const prefix = `r${randomUUID().slice(0, 8)}`;
    let fail = true;
    const pas = fakePas(10);
    const flaky = {
      queries: pas.queries,
      reconcile: async (q: ReconcileQuery) => {
        if (fail && q.after === '4') throw new Error('PAS down');
        return pas.reconcile(q);
      },
    };
    const sweep = sweeper(flaky, { maxPerSweep: 100, pageSize: 4 }, prefix);
    await expect(sweep()).rejects.toThrow('PAS down');
    fail = false;
    pas.queries.length = 0;
    expect(await sweep()).toMatchObject({ outcome: 'complete', checked: 6 });
    expect(pas.queries[0]?.after).toBe('4');
  });
});

describe('reconciler settings', () => {
  const env = { QUEUE_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}` };

  it('default to a sweep a minute, bounded', () => {
    const config = loadWorkerConfig(env);
    expect(config.RECONCILE_INTERVAL_SECONDS).toBe(60);
    expect(config.RECONCILE_MAX_PER_SWEEP).toBeGreaterThan(0);
    expect(config.RECONCILE_PAGE_SIZE).toBeGreaterThan(0);
  });

  it.each([
    ['RECONCILE_INTERVAL_SECONDS', 'soon'],
    ['RECONCILE_INTERVAL_SECONDS', '-1'],
    ['RECONCILE_INTERVAL_SECONDS', '1.5'],
    ['RECONCILE_MAX_PER_SWEEP', '0'],
    ['RECONCILE_PAGE_SIZE', '100000'],
    ['RECONCILE_PAUSE_MS', 'fast'],
  ])('%s=%s is refused with one line naming the setting', (name, value) => {
    expect(() => loadWorkerConfig({ ...env, [name]: value })).toThrow(new RegExp(`^${name}: .*; got "${value}"$`));
  });
});
