import type Database from 'better-sqlite3';
import { LocalClock } from '@booking/pas';
import type { SlotForBooking } from './consumer.js';

const clock = new LocalClock('Europe/London');

/** Free slots of a demo service straight from the PAS file (for tests that do not search first). */
export function freeSlots(db: Database.Database, serviceId = '999999999', limit = 1000): SlotForBooking[] {
  const rows = db
    .prepare(
      `SELECT s.SLOT_ID, s.SLOT_GUID, s.CLINIC_CODE, s.START_DTTM, s.END_DTTM FROM CLINIC_SLOT s JOIN CLINIC c ON c.CLINIC_CODE = s.CLINIC_CODE
        WHERE c.DOS_SERVICE_ID = ? AND s.SLOT_STATUS = 'F' ORDER BY s.START_DTTM LIMIT ?`,
    )
    .all(serviceId, limit) as { SLOT_ID: number; SLOT_GUID: string; CLINIC_CODE: string; START_DTTM: string; END_DTTM: string }[];
  return rows.map((r) => ({
    id: String(r.SLOT_ID),
    identifier: r.SLOT_GUID,
    schedule: `Schedule/${r.CLINIC_CODE.trim()}`,
    start: clock.toInstant(r.START_DTTM),
    end: clock.toInstant(r.END_DTTM),
  }));
}

/** Integrity of the PAS after a test: what a double booking or a partial write would break. */
export function pasCounts(db: Database.Database) {
  const one = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number }).n;
  return {
    appointments: one('SELECT COUNT(*) AS n FROM APPOINTMENT'),
    activeAppointments: one(`SELECT COUNT(*) AS n FROM APPOINTMENT WHERE APPT_STATUS = 'B'`),
    fhirAppointments: one('SELECT COUNT(*) AS n FROM booking_FHIR_APPOINTMENT'),
    versions: one('SELECT COUNT(*) AS n FROM booking_FHIR_APPOINTMENT_VERSION'),
    requests: one('SELECT COUNT(*) AS n FROM booking_REQUEST_LOG'),
    doubleBookedSlots: one(`SELECT COUNT(*) AS n FROM (SELECT SLOT_ID FROM APPOINTMENT WHERE APPT_STATUS = 'B' GROUP BY SLOT_ID HAVING COUNT(*) > 1)`),
  };
}
