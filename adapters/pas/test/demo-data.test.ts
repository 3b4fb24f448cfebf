import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateDemoData } from '../src/demo-data.js';
import { loadDemoDataSqlite, SqlitePas } from '../src/sqlite/index.js';

/**
 * Slot ids of a new PAS (demo and test data) start at 1001. The Booking API's example booking body,
 * which the assurance harness sends with the searched slot's details filled in, gives its contained
 * DocumentReference the id "123", and the contained Slot takes the slot's id: a slot numbered 123
 * could not be booked with it (422, a contained id used twice). See docs/pas.md.
 */

const withoutComments = (script: string) => script.replace(/--.*$/gm, '');

describe('demo slot ids', () => {
  it('start at 1001 in the SQLite demo PAS, also after a reload, so none is 123', async () => {
    const pas = new SqlitePas({ path: ':memory:' });
    try {
      const ids = () => (pas.db.prepare('SELECT MIN(SLOT_ID) AS first, MAX(SLOT_ID) AS last, COUNT(*) AS n FROM CLINIC_SLOT').get() as { first: number; last: number; n: number });
      loadDemoDataSqlite(pas.db, generateDemoData());
      const loaded = ids();
      expect(loaded.first).toBe(1001);
      expect(loaded.last).toBe(1000 + loaded.n);
      loadDemoDataSqlite(pas.db, generateDemoData());
      expect(ids().first).toBeGreaterThan(1000);
      expect(pas.db.prepare('SELECT COUNT(*) AS n FROM CLINIC_SLOT WHERE SLOT_ID = 123').get()).toEqual({ n: 0 });
    } finally {
      await pas.close();
    }
  });

  it('start at 1001 in the SQL Server reference schema (docker demo, contract suite databases)', () => {
    const legacy = withoutComments(readFileSync(new URL('../../../docker/pas/01-legacy-schema.sql', import.meta.url), 'utf8'));
    expect(legacy).toMatch(/CREATE TABLE dbo\.CLINIC_SLOT \(\s*SLOT_ID\s+INT IDENTITY\(1001, 1\) NOT NULL/);
  });
});
