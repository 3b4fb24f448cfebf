import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { TransientPasError } from '../src/port.js';
import { SqlitePas } from '../src/sqlite/sqlite-pas.js';

describe('opening an existing SQLite PAS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-open-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('needs no write lock: a worker starts while a PAS screen, report or backup is writing to the file', async () => {
    const path = join(dir, 'pas.db');
    await new SqlitePas({ path }).close(); // an existing install's file
    const clerk = new Database(path);
    clerk.exec('BEGIN IMMEDIATE'); // another process holds the write lock (WAL: readers go on)
    try {
      const worker = new SqlitePas({ path, busyTimeoutMs: 100 });
      expect(await worker.ping()).toBeUndefined();
      await worker.close();
    } finally {
      clerk.exec('ROLLBACK');
      clerk.close();
    }
    // The rows the schema needs were written the first time, and are there still.
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT LOCK_ID FROM booking_PATIENT_REGISTRATION').all()).toEqual([{ LOCK_ID: 1 }]);
    expect(db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'CLINIC_SLOT'`).get()).toEqual({ seq: 1000 });
    db.close();
  });

  it("adds booking_FHIR_APPOINTMENT.PAS_PATIENT_ID to a file made before it existed, keeping the product's rows", async () => {
    const path = join(dir, 'old.db');
    await new SqlitePas({ path }).close();
    const old = new Database(path);
    old.exec(`INSERT INTO booking_FHIR_APPOINTMENT (APPOINTMENT_ID, PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS, LAST_UPDATED_UTC)
              VALUES ('00000000-0000-4000-8000-000000000001', 1, 1001, 1, 'booked', '2026-01-01T00:00:00.000Z')`);
    old.exec('ALTER TABLE booking_FHIR_APPOINTMENT DROP COLUMN PAS_PATIENT_ID'); // as the earlier schema made it
    old.close();
    await new SqlitePas({ path }).close();
    const db = new Database(path, { readonly: true });
    expect(db.prepare('SELECT APPOINTMENT_ID, PAS_PATIENT_ID FROM booking_FHIR_APPOINTMENT').all()).toEqual([
      { APPOINTMENT_ID: '00000000-0000-4000-8000-000000000001', PAS_PATIENT_ID: null },
    ]);
    db.close();
  });

  it('checkSchema finds nothing lacking in the schema it creates', async () => {
    const pas = new SqlitePas({ path: join(dir, 'complete.db') });
    expect(await pas.checkSchema()).toEqual([]);
    await pas.close();
  });

  it('checkSchema names each table and access the SQL needs and cannot have, and changes no row', async () => {
    const path = join(dir, 'incomplete.db');
    const pas = new SqlitePas({ path });
    // A legacy column the adapter reads, and a product column as an upgrade without its schema script leaves it.
    pas.db.exec('ALTER TABLE PATIENT DROP COLUMN PHONE_NO');
    pas.db.exec('ALTER TABLE booking_FHIR_APPOINTMENT DROP COLUMN PAS_PATIENT_ID');
    const counts = () => pas.db.prepare(`SELECT (SELECT COUNT(*) FROM booking_FHIR_APPOINTMENT) AS a, (SELECT COUNT(*) FROM booking_PATIENT_REGISTRATION) AS r, (SELECT COUNT(*) FROM PATIENT) AS p`).get();
    const before = counts();
    const lacking = await pas.checkSchema();
    // SQLite has no grants: a missing column shows in the read probe alone.
    expect(lacking).toEqual([
      expect.stringMatching(/^PATIENT \(read\): .*PHONE_NO/),
      expect.stringMatching(/^booking_FHIR_APPOINTMENT \(read\): .*PAS_PATIENT_ID/),
    ]);
    expect(counts()).toEqual(before);
    expect(pas.db.inTransaction).toBe(false);
    await pas.close();
  });

  it('checkSchema needs no write lock: it answers while a PAS screen holds the write lock, and still names a missing column', async () => {
    const path = join(dir, 'locked.db');
    await new SqlitePas({ path }).close();
    const clerk = new Database(path);
    clerk.exec('BEGIN IMMEDIATE'); // a PAS screen in the middle of a write
    clerk.exec('UPDATE CLINIC SET CLINIC_NAME = CLINIC_NAME');
    const worker = new SqlitePas({ path, busyTimeoutMs: 100 });
    try {
      const answer = await worker.checkSchema().catch((error: unknown) => error);
      expect(answer).not.toBeInstanceOf(TransientPasError);
      expect(answer).toEqual([]);
      clerk.exec('ROLLBACK');
      clerk.exec('ALTER TABLE booking_FHIR_APPOINTMENT DROP COLUMN PAS_PATIENT_ID');
      clerk.exec('BEGIN IMMEDIATE');
      clerk.exec('UPDATE CLINIC SET CLINIC_NAME = CLINIC_NAME');
      expect(await worker.checkSchema()).toEqual([expect.stringMatching(/^booking_FHIR_APPOINTMENT \(read\): .*PAS_PATIENT_ID/)]);
    } finally {
      if (clerk.inTransaction) clerk.exec('ROLLBACK');
      clerk.close();
      await worker.close();
    }
  });
});
