import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDemoData } from '../src/demo-data.js';
import { loadDemoDataSqlite, SqlitePas } from '../src/sqlite/index.js';

/**
 * Search cost must not grow with the PAS: the SQLite adapter's slot search must reach its rows
 * through IX_CLINIC_DOS_SERVICE and IX_CLINIC_SLOT_CLINIC_START, never a scan of CLINIC_SLOT.
 * The test records the statements searchSlots really runs and asks SQLite for their plans.
 */

let pas: SqlitePas;
const tomorrow = new Date(Date.now() + 24 * 3600_000).toISOString();
const inFourDays = new Date(Date.now() + 4 * 24 * 3600_000).toISOString();

beforeAll(() => {
  pas = new SqlitePas({ path: ':memory:' });
  // Enough slots that a scan and an index search differ, and statistics as a live PAS would have.
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 20_000 }));
  pas.db.exec('ANALYZE');
});
afterAll(async () => {
  await pas?.close();
});

/** Runs a search and returns each statement it executed with its query plan. */
async function plansOf(run: () => Promise<unknown>): Promise<{ sql: string; plan: string[] }[]> {
  const db = pas.db;
  // The adapter keeps its prepared statements; empty that cache so each statement is prepared (and seen) again.
  (pas as unknown as { statements: Map<string, unknown> }).statements.clear();
  const executed: { sql: string; params: unknown[] }[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const statement = prepare(sql);
    const all = statement.all.bind(statement);
    statement.all = ((...params: unknown[]) => {
      executed.push({ sql, params });
      return all(...params);
    }) as typeof statement.all;
    return statement;
  }) as Database.Database['prepare'];
  try {
    await run();
  } finally {
    db.prepare = prepare;
  }
  return executed.map(({ sql, params }) => ({
    sql,
    plan: (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail),
  }));
}

describe('SQLite slot search query plan', () => {
  for (const [name, query] of [
    ['a bounded window with a status', { serviceId: '999999999', statuses: ['free' as const], startFrom: { instant: tomorrow, inclusive: true }, startTo: { instant: inFourDays, inclusive: true }, limit: 500 }],
    ['no window and no status', { serviceId: '999999999', statuses: [], limit: 500 }],
  ] as const) {
    it(`uses the clinic and slot indexes for ${name}`, async () => {
      const plans = await plansOf(() => pas.searchSlots({ ...query, statuses: [...query.statuses] }));
      const slotQuery = plans.find((p) => /FROM CLINIC_SLOT/.test(p.sql));
      const clinicQuery = plans.find((p) => /FROM CLINIC c/.test(p.sql));
      expect(slotQuery?.plan.join('\n')).toMatch(/SEARCH s USING INDEX IX_CLINIC_SLOT_CLINIC_START \(CLINIC_CODE=\?/);
      expect(clinicQuery?.plan.join('\n')).toMatch(/SEARCH c USING INDEX IX_CLINIC_DOS_SERVICE \(DOS_SERVICE_ID>\? AND DOS_SERVICE_ID<\?\)/); // the id, blank-padded or not
      for (const p of plans) expect(p.plan.join('\n')).not.toMatch(/SCAN (s|c|CLINIC_SLOT|CLINIC)\b/);
    });
  }

  it('finds the slots it planned for', async () => {
    const result = await pas.searchSlots({ serviceId: '999999999', statuses: ['free'], startFrom: { instant: tomorrow, inclusive: true }, limit: 10 });
    expect(result.serviceKnown).toBe(true);
    expect(result.slots).toHaveLength(10);
  });
});
