import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConsistency, generateDemoData, LocalClock, MSSQL_TABLES, parseStatusMapping, SQLITE_TABLES, type StatusMapping } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';

/**
 * The consistency check's rules on a real SQLite demo PAS, each finding made by writing the rows a
 * bug (ours or a clerk's) would leave: two live appointments in a slot, a busy slot nobody holds, a
 * live appointment in a free slot, a version that disagrees with the PAS, a dangling slot reference.
 */

const dir = mkdtempSync(join(tmpdir(), 'booking-consistency-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = new LocalClock('Europe/London');
let db: Database.Database;
let n = 0;

beforeEach(async () => {
  const path = join(dir, `pas${n++}.sqlite`);
  const pas = new SqlitePas({ path });
  loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 20 }));
  await pas.close();
  db = new Database(path);
  return () => db.close();
});

const check = (mapping?: StatusMapping) => checkConsistency(async (sql) => db.prepare(sql).all() as Record<string, unknown>[], SQLITE_TABLES, mapping ? { statusMapping: mapping } : {});
const findings = async (mapping?: StatusMapping) => Object.fromEntries((await check(mapping)).findings.map((f) => [f.check, f.keys]));

function freeSlot(offset = 0): { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string; END_DTTM: string } {
  return db.prepare(`SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE SLOT_STATUS = 'F' ORDER BY SLOT_ID LIMIT 1 OFFSET ?`).get(offset) as never;
}

/** A legacy appointment as the PAS (or the product) writes it; the slot's status is set separately. */
function appointment(slotId: number, status: string): number {
  const slot = db.prepare('SELECT START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE SLOT_ID = ?').get(slotId) as { START_DTTM: string; END_DTTM: string };
  const patient = db.prepare(`INSERT INTO PATIENT (SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM) VALUES ('TEST', 'U', '1970-01-01 00:00:00', 'T', '2026-01-01 00:00:00')`).run().lastInsertRowid;
  return Number(
    db
      .prepare(`INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, SOURCE_CODE, BOOKED_DTTM) VALUES (?, ?, ?, ?, ?, 'NHSB', '2026-01-01 00:00:00')`)
      .run(slotId, patient, status, slot.START_DTTM, slot.END_DTTM).lastInsertRowid,
  );
}
const setSlot = (slotId: number, status: string) => db.prepare('UPDATE CLINIC_SLOT SET SLOT_STATUS = ? WHERE SLOT_ID = ?').run(status, slotId);

/** The product's record of an appointment: one version, as booked, with the consumer's contained Slot. */
function fhirAppointment(id: string, pasId: number, slot: ReturnType<typeof freeSlot>, resource: Record<string, unknown> = {}): void {
  const body = {
    resourceType: 'Appointment',
    id,
    status: 'booked',
    start: clock.toInstant(slot.START_DTTM),
    end: clock.toInstant(slot.END_DTTM),
    contained: [{ resourceType: 'Slot', id: String(slot.SLOT_ID), identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: slot.SLOT_GUID }] }],
    slot: [{ reference: `#${slot.SLOT_ID}` }],
    ...resource,
  };
  db.prepare(`INSERT INTO booking_FHIR_APPOINTMENT (APPOINTMENT_ID, PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS, LAST_UPDATED_UTC) VALUES (?, ?, ?, 1, 'booked', '2026-01-01T00:00:00.000Z')`).run(id, pasId, slot.SLOT_ID);
  db.prepare(`INSERT INTO booking_FHIR_APPOINTMENT_VERSION VALUES (?, 1, 'booked', '2026-01-01T00:00:00.000Z', ?)`).run(id, JSON.stringify(body));
  db.prepare(`INSERT INTO booking_REQUEST_LOG VALUES (?, 'book', 'job', ?, 1, '2026-01-01T00:00:00.000Z')`).run(`req-${id}`, id);
}

describe('the consistency check', () => {
  it('finds nothing on demo data, whose busy slots were never booked, nor on a consistent booking', async () => {
    const slot = freeSlot();
    fhirAppointment('a1', appointment(slot.SLOT_ID, 'B'), slot);
    setSlot(slot.SLOT_ID, 'B');
    expect((await check()).findings).toEqual([]);
  });

  it('reports a slot held by two live appointments (booked, arrived, attended or no-show), not one with a cancelled one', async () => {
    const [a, b] = [freeSlot(0), freeSlot(1)];
    appointment(a.SLOT_ID, 'B');
    appointment(a.SLOT_ID, 'S');
    setSlot(a.SLOT_ID, 'B');
    appointment(b.SLOT_ID, 'H');
    appointment(b.SLOT_ID, 'A');
    setSlot(b.SLOT_ID, 'B');
    expect(await findings()).toEqual({ 'double-booked-slots': [String(a.SLOT_ID)] });
  });

  it('reports a busy slot whose appointments were all cancelled, and a live appointment in a free slot', async () => {
    const [busy, free] = [freeSlot(0), freeSlot(1)];
    appointment(busy.SLOT_ID, 'P');
    setSlot(busy.SLOT_ID, 'B');
    const live = appointment(free.SLOT_ID, 'B');
    expect(await findings()).toEqual({ 'busy-slots-without-appointment': [String(busy.SLOT_ID)], 'live-appointments-in-free-slots': [String(live)] });
  });

  it('reports a FHIR appointment whose latest version disagrees with the PAS: status, time or slot', async () => {
    const slots = [0, 1, 2, 3].map(freeSlot);
    const [cancelled, moved, retimed, same] = slots as [ReturnType<typeof freeSlot>, ReturnType<typeof freeSlot>, ReturnType<typeof freeSlot>, ReturnType<typeof freeSlot>];
    fhirAppointment('cancelled', appointment(cancelled.SLOT_ID, 'H'), cancelled);
    const movedAppt = appointment(moved.SLOT_ID, 'B');
    fhirAppointment('moved', movedAppt, moved);
    const target = freeSlot(4);
    db.prepare('UPDATE APPOINTMENT SET SLOT_ID = ?, START_DTTM = ?, END_DTTM = ? WHERE APPT_ID = ?').run(target.SLOT_ID, target.START_DTTM, target.END_DTTM, movedAppt);
    setSlot(target.SLOT_ID, 'B');
    const retimedAppt = appointment(retimed.SLOT_ID, 'B');
    fhirAppointment('retimed', retimedAppt, retimed);
    db.prepare(`UPDATE APPOINTMENT SET START_DTTM = '2030-01-01 09:00:00' WHERE APPT_ID = ?`).run(retimedAppt);
    setSlot(retimed.SLOT_ID, 'B');
    fhirAppointment('same', appointment(same.SLOT_ID, 'B'), same);
    setSlot(same.SLOT_ID, 'B');
    expect(await findings()).toEqual({ 'versions-disagreeing-with-pas': ['cancelled', 'moved', 'retimed'] });
  });

  it('reports an appointment whose legacy row is gone until a version says so (entered-in-error), unless it was final or had begun (archived)', async () => {
    const slots = [0, 1, 2, 3].map(freeSlot) as ReturnType<typeof freeSlot>[];
    const ids = ['deleted', 'recorded', 'archived', 'purged-after-it-took-place'];
    const statuses = [{}, { status: 'entered-in-error' }, { status: 'fulfilled' }, { start: '2020-01-01T09:00:00.000Z', end: '2020-01-01T09:15:00.000Z' }];
    for (const [i, id] of ids.entries()) fhirAppointment(id, appointment(slots[i]!.SLOT_ID, 'B'), slots[i]!, statuses[i]);
    db.prepare('DELETE FROM APPOINTMENT').run();
    expect(await findings()).toEqual({ 'versions-disagreeing-with-pas': ['deleted'] });
  });

  it('compares times to the second, as the PAS holds them: a consumer\'s milliseconds are no disagreement', async () => {
    const slot = freeSlot();
    const start = clock.toInstant(slot.START_DTTM).replace('.000Z', '.500Z');
    const end = clock.toInstant(slot.END_DTTM).replace('.000Z', '.999Z');
    fhirAppointment('with-ms', appointment(slot.SLOT_ID, 'B'), slot, { start, end });
    setSlot(slot.SLOT_ID, 'B');
    expect((await check()).findings).toEqual([]);
  });

  it('reports a version whose Appointment.slot points at no contained Slot', async () => {
    const slot = freeSlot();
    fhirAppointment('dangling', appointment(slot.SLOT_ID, 'B'), slot, { slot: [{ reference: '#elsewhere' }] });
    setSlot(slot.SLOT_ID, 'B');
    expect(await findings()).toEqual({ 'versions-with-dangling-slot-reference': ['dangling'] });
  });

  it('follows the trust\u2019s status mapping: its cancelled codes free a slot, an unknown code holds it and is not a disagreement', async () => {
    const mapping = parseStatusMapping('BK=booked,XP=cancelled:patient,XH=cancelled:hospital');
    const [a, b] = [freeSlot(0), freeSlot(1)];
    appointment(a.SLOT_ID, 'XP');
    appointment(a.SLOT_ID, 'BK');
    setSlot(a.SLOT_ID, 'B');
    fhirAppointment('unknown', appointment(b.SLOT_ID, 'ZZ'), b);
    setSlot(b.SLOT_ID, 'B');
    expect(await findings(mapping)).toEqual({});
    appointment(b.SLOT_ID, 'BK');
    expect(await findings(mapping)).toEqual({ 'double-booked-slots': [String(b.SLOT_ID)] });
  });

  it('reads the stored versions in pages by appointment id, with the same findings across page boundaries', async () => {
    // Seven FHIR appointments (ids sort as named); pages of two put findings on every boundary.
    const slots = [0, 1, 2, 3, 4, 5, 6].map(freeSlot);
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'];
    ids.forEach((id, i) => {
      const slot = slots[i] as ReturnType<typeof freeSlot>;
      // p2, p3, p6 disagree (cancelled in the PAS); p5 and p7 point at no contained Slot.
      const status = ['p2', 'p3', 'p6'].includes(id) ? 'H' : 'B';
      fhirAppointment(id, appointment(slot.SLOT_ID, status), slot, ['p5', 'p7'].includes(id) ? { slot: [{ reference: '#elsewhere' }] } : {});
      setSlot(slot.SLOT_ID, status === 'H' ? 'F' : 'B');
    });
    const versionReads: number[] = [];
    const recording = async (sql: string) => {
      const rows = db.prepare(sql).all() as Record<string, unknown>[];
      if (sql.includes('RESOURCE_JSON')) versionReads.push(rows.length);
      return rows;
    };
    const report = await checkConsistency(recording, SQLITE_TABLES, { pageSize: 2 });
    expect(versionReads).toEqual([2, 2, 2, 1]);
    const byCheck = Object.fromEntries(report.findings.map((f) => [f.check, f.keys]));
    expect(byCheck['versions-disagreeing-with-pas']).toEqual(['p2', 'p3', 'p6']);
    expect(byCheck['versions-with-dangling-slot-reference']).toEqual(['p5', 'p7']);
    // The default page is the same report as pages of two.
    expect(await check()).toEqual(report);
  });

  it('pages with TOP on SQL Server (no LIMIT there), keyed on the last id read', async () => {
    const sent: string[] = [];
    const ids = ['a', 'b', "c'd"];
    const mssql = async (sql: string) => {
      sent.push(sql);
      if (sql.includes('COUNT(*)')) return [{ n: 0 }];
      if (!sql.includes('RESOURCE_JSON')) return [];
      const after = /APPOINTMENT_ID > '((?:[^']|'')*)'/.exec(sql)?.[1]?.replace(/''/g, "'");
      return ids.filter((id) => after === undefined || id > after).slice(0, 2).map((id) => ({ id, json: '{}', pasId: null }));
    };
    await checkConsistency(mssql, MSSQL_TABLES, { pageSize: 2 });
    const pages = sent.filter((sql) => sql.includes('RESOURCE_JSON'));
    expect(pages).toHaveLength(2);
    for (const sql of pages) {
      expect(sql).toMatch(/^SELECT TOP \(2\) /);
      expect(sql).not.toMatch(/LIMIT/);
    }
    expect(pages[1]).toContain("WHERE a.APPOINTMENT_ID > 'b'");
  });
});
