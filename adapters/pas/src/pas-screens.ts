import { LocalClock } from './local-time.js';
import { codeList, insertedId, legacyCode, type PasDatabase, type PasSession, type Params, sqlp } from './session.js';

/**
 * What a clerk does on the PAS's own screens, for tests, demos and the CLI: writes to the legacy
 * tables only (APPOINTMENT, CLINIC_SLOT, PATIENT), in the reference codes of the demo schema
 * (APPT_STATUS B/A/S/D/P/H, SLOT_STATUS F/B/U). Never used by the product's own request path.
 */
export interface PasScreens {
  /** Cancels a booked or arrived appointment (FHIR Appointment id) and frees its slot. */
  cancel(appointmentId: string, by: 'patient' | 'hospital'): Promise<void>;
  /** Moves a booked appointment into another free slot (legacy SLOT_ID), freeing the old one. */
  move(appointmentId: string, toSlotId: string): Promise<void>;
  /** Books a made-up local patient into a free slot, as a walk-in. */
  walkIn(slotId: string): Promise<{ pasAppointmentId: string }>;
  arrive(appointmentId: string): Promise<void>;
  attend(appointmentId: string): Promise<void>;
  didNotAttend(appointmentId: string): Promise<void>;
  /** Withdraws a free slot (U). */
  withdrawSlot(slotId: string): Promise<void>;
  close(): Promise<void>;
}

export interface PasScreensOptions {
  sqlitePath?: string;
  mssqlUrl?: string;
  timeZone?: string;
}

export async function openPasScreens(options: PasScreensOptions): Promise<PasScreens> {
  const clock = new LocalClock(options.timeZone);
  if (options.mssqlUrl) {
    const [{ default: sql }, { mssqlConfig }, { MssqlDatabase }] = await Promise.all([import('mssql'), import('./mssql/connection.js'), import('./mssql/mssql-db.js')]);
    const pool = new sql.ConnectionPool(mssqlConfig(options.mssqlUrl));
    pool.on('error', () => undefined);
    await pool.connect();
    return pasScreens(new MssqlDatabase(pool, 5000), clock);
  }
  if (!options.sqlitePath) throw new Error('openPasScreens: give sqlitePath or mssqlUrl');
  const [{ default: Database }, { SqliteDatabase }] = await Promise.all([import('better-sqlite3'), import('./sqlite/sqlite-db.js')]);
  const db = new Database(options.sqlitePath);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return pasScreens(new SqliteDatabase(db, 5000), clock);
}

/** The screens over an open PAS database (the contract suite shares its adapter's database). */
export function pasScreens(db: PasDatabase, clock: LocalClock): PasScreens {

  /** Runs one screen action; a statement that changes other than one row aborts it with `refusal`. */
  const act = <T>(refusal: string, work: (s: PasSession, one: (sql: string, params: Params) => Promise<void>) => Promise<T>) =>
    db.transaction(async (s) => {
      const one = async (sql: string, params: Params) => {
        if ((await s.execute(sql, params)) !== 1) throw new Error(`PAS screens: ${refusal}`);
      };
      return { commit: true, value: await work(s, one) };
    });

  const pasAppointment = async (s: PasSession, appointmentId: string): Promise<{ APPT_ID: number; SLOT_ID: number }> => {
    const [row] = await s.query<{ APPT_ID: number; SLOT_ID: number }>(
      `SELECT p.APPT_ID, p.SLOT_ID FROM ${db.dialect.booking('FHIR_APPOINTMENT')} f JOIN APPOINTMENT p ON p.APPT_ID = f.PAS_APPT_ID WHERE f.APPOINTMENT_ID = @id`,
      { id: sqlp.key(appointmentId, 36) },
    );
    if (!row) throw new Error(`PAS screens: no appointment ${appointmentId}`);
    return row;
  };

  const setStatus = (appointmentId: string, to: string, from: string[], label: string) =>
    act(`appointment ${appointmentId} is not ${from.join(' or ')}: cannot record ${label}`, async (s, one) => {
      const appt = await pasAppointment(s, appointmentId);
      await one(`UPDATE APPOINTMENT SET APPT_STATUS = '${to}' WHERE APPT_ID = @id AND ${legacyCode('APPT_STATUS')} IN (${codeList(from)})`, {
        id: sqlp.int(appt.APPT_ID),
      });
    });

  const slotKey = (slotId: string) => {
    if (!/^\d{1,10}$/.test(slotId)) throw new Error(`PAS screens: slot id ${slotId} is not a legacy SLOT_ID`);
    return sqlp.int(Number(slotId));
  };

  /**
   * Takes a free slot (F → `to`) as the first write of an action; when it is not free, says whether
   * it is there at all (a mistyped id is "no slot", not "not free"). Read after the refused write,
   * only to word the refusal.
   */
  const takeFreeSlot = async (s: PasSession, slotId: string, to: 'B' | 'U', now: ReturnType<typeof sqlp.local>, refusal: string) => {
    const slot = slotKey(slotId);
    if ((await s.execute(`UPDATE CLINIC_SLOT SET SLOT_STATUS = '${to}', LAST_UPD_DTTM = @now WHERE SLOT_ID = @slot AND ${legacyCode('SLOT_STATUS')} = 'F'`, { slot, now })) === 1) return;
    const [there] = await s.query('SELECT SLOT_ID FROM CLINIC_SLOT WHERE SLOT_ID = @slot', { slot });
    throw new Error(`PAS screens: ${there ? refusal : `no slot ${slotId}`}`);
  };

  return {
    cancel: (appointmentId, by) =>
      act(`appointment ${appointmentId} is not booked or arrived, or its slot is not booked: cannot cancel`, async (s, one) => {
        const appt = await pasAppointment(s, appointmentId);
        const now = sqlp.local(clock.nowLocal());
        await one(
          `UPDATE APPOINTMENT SET APPT_STATUS = '${by === 'patient' ? 'P' : 'H'}', CANCELLED_DTTM = @now WHERE APPT_ID = @id AND ${legacyCode('APPT_STATUS')} IN ('B', 'A')`,
          { id: sqlp.int(appt.APPT_ID), now },
        );
        await one(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F', LAST_UPD_DTTM = @now WHERE SLOT_ID = @slot AND ${legacyCode('SLOT_STATUS')} = 'B'`, {
          slot: sqlp.int(appt.SLOT_ID),
          now,
        });
      }),
    move: (appointmentId, toSlotId) =>
      act(`cannot move appointment ${appointmentId} to slot ${toSlotId}: the appointment is not booked or the slot is not free`, async (s, one) => {
        const appt = await pasAppointment(s, appointmentId);
        const now = sqlp.local(clock.nowLocal());
        await takeFreeSlot(s, toSlotId, 'B', now, `cannot move appointment ${appointmentId} to slot ${toSlotId}: the slot is not free`);
        await one(
          `UPDATE APPOINTMENT SET SLOT_ID = @to,
                  START_DTTM = (SELECT START_DTTM FROM CLINIC_SLOT WHERE SLOT_ID = @to),
                  END_DTTM = (SELECT END_DTTM FROM CLINIC_SLOT WHERE SLOT_ID = @to)
            WHERE APPT_ID = @id AND SLOT_ID = @from AND ${legacyCode('APPT_STATUS')} = 'B'`,
          { to: slotKey(toSlotId), id: sqlp.int(appt.APPT_ID), from: sqlp.int(appt.SLOT_ID) },
        );
        await one(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F', LAST_UPD_DTTM = @now WHERE SLOT_ID = @from AND ${legacyCode('SLOT_STATUS')} = 'B'`, {
          from: sqlp.int(appt.SLOT_ID),
          now,
        });
      }),
    walkIn: (slotId) =>
      act(`slot ${slotId} is not free: cannot book a walk-in`, async (s, one) => {
        const now = sqlp.local(clock.nowLocal());
        await takeFreeSlot(s, slotId, 'B', now, `slot ${slotId} is not free: cannot book a walk-in`);
        const patientId = await insertedId(
          s,
          'registering the walk-in patient',
          `INSERT INTO PATIENT (SURNAME, FORENAMES, SEX, DOB, REG_TYPE, CREATED_DTTM) VALUES (@surname, @given, 'U', @dob, 'P', @now)`,
          { surname: sqlp.text('WALKIN'), given: sqlp.text('Local'), dob: sqlp.local('1970-01-01 00:00:00'), now },
        );
        await one('UPDATE PATIENT SET HOSP_NO = @hosp WHERE PATIENT_ID = @id', { hosp: sqlp.text(`W${String(patientId).padStart(9, '0')}`), id: sqlp.int(patientId) });
        const apptId = await insertedId(
          s,
          'booking the walk-in',
          `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
           SELECT SLOT_ID, @patient, 'B', START_DTTM, END_DTTM, @reason, 'PAS', @now FROM CLINIC_SLOT WHERE SLOT_ID = @slot`,
          { patient: sqlp.int(patientId), reason: sqlp.text('Walk-in'), now, slot: slotKey(slotId) },
        );
        return { pasAppointmentId: String(apptId) };
      }),
    arrive: (id) => setStatus(id, 'A', ['B'], 'an arrival'),
    attend: (id) => setStatus(id, 'S', ['B', 'A'], 'an attendance'),
    didNotAttend: (id) => setStatus(id, 'D', ['B'], 'a did-not-attend'),
    withdrawSlot: (slotId) =>
      act(`slot ${slotId} is not free: cannot withdraw it`, async (s) => {
        await takeFreeSlot(s, slotId, 'U', sqlp.local(clock.nowLocal()), `slot ${slotId} is not free: cannot withdraw it`);
      }),
    close: () => db.close(),
  };
}
