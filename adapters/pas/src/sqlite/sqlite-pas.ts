import { readFileSync } from 'node:fs';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { slotMismatch } from '../booking-rules.js';
import { LocalClock } from '../local-time.js';
import { BOOKING_SOURCE_CODE, slotStatusCode, temporaryHospitalNumber } from '../legacy-codes.js';
import {
  appointmentSearchSql,
  assembleSearch,
  CLINIC_SELECT,
  type RawClinic,
  type RawSlot,
  type RawVersion,
  SLOT_COLUMNS,
  toAppointmentVersion,
  toSlotRow,
  VERSION_SELECT_COLUMNS,
  withinBounds,
} from '../row-mapping.js';
import {
  type AppointmentQuery,
  type AppointmentVersion,
  type BookCommand,
  type BookResult,
  type CancelCommand,
  type CancelResult,
  type PasPort,
  type ReconcileQuery,
  type ReconcileResult,
  type ReplayedWrite,
  type SlotQuery,
  type SlotSearchResult,
  TransientPasError,
  type WriteContext,
} from '../port.js';
import {
  appointmentReason,
  cancelRefusal,
  type FhirAppointmentRow,
  isVersionId,
  legacyIntegerId,
  PATIENT_INSERT,
  patientValues,
  type RequestLogRow,
  replayedWrite,
} from '../write-helpers.js';

const SCHEMA_SQL = new URL('../../sql/sqlite-schema.sql', import.meta.url);

export interface SqlitePasOptions {
  /** File path, or ':memory:' for tests that need no second process. */
  path: string;
  timeZone?: string;
  /** How long a writer waits for another process's lock before giving up (ms). */
  busyTimeoutMs?: number;
}

/** Creates the reference schema if it is missing (the demo PAS only; never run against a trust PAS). */
export function createSqliteSchema(db: Database.Database): void {
  db.exec(readFileSync(SCHEMA_SQL, 'utf8'));
}

/**
 * The embedded demo PAS: the reference schema in one SQLite file, shared by every worker process.
 * Writes run in BEGIN IMMEDIATE transactions, so two processes never interleave inside one booking.
 */
export class SqlitePas implements PasPort {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  private readonly clock: LocalClock;
  private readonly busyTimeoutMs: number;

  constructor(options: SqlitePasOptions) {
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    createSqliteSchema(this.db);
    this.clock = new LocalClock(options.timeZone);
  }

  async searchSlots(query: SlotQuery): Promise<SlotSearchResult> {
    return this.guard(() => {
      const clinics = this
        .prepare(`${CLINIC_SELECT} WHERE c.DOS_SERVICE_ID = ? AND c.ACTIVE_FLAG = 'Y'`)
        .all(query.serviceId) as RawClinic[];
      if (clinics.length === 0) return { serviceKnown: false, ...assembleSearch([], []) };

      const where: string[] = [`s.CLINIC_CODE IN (${clinics.map(() => '?').join(',')})`];
      const params: unknown[] = clinics.map((c) => c.CLINIC_CODE);
      let widened = false;
      if (query.startFrom) {
        const b = this.clock.queryBound(query.startFrom.instant, 'lower');
        where.push('s.START_DTTM >= ?');
        params.push(b.local);
        widened ||= b.widened;
      }
      if (query.startTo) {
        const b = this.clock.queryBound(query.startTo.instant, 'upper');
        where.push('s.START_DTTM <= ?');
        params.push(b.local);
        widened ||= b.widened;
      }
      if (query.statuses.length > 0) {
        where.push(`s.SLOT_STATUS IN (${query.statuses.map(() => '?').join(',')})`);
        params.push(...query.statuses.map(slotStatusCode));
      }
      // Rows in a widened hour are filtered out below, so fetch a margin beyond the limit.
      params.push(widened ? query.limit + 1000 : query.limit + 1);
      const raw = this
        .prepare(`SELECT ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE ${where.join(' AND ')} ORDER BY s.START_DTTM, s.SLOT_ID LIMIT ?`)
        .all(...params) as RawSlot[];
      const slots = raw
        .map((r) => toSlotRow(r, this.clock))
        .filter((s) => withinBounds(s, query))
        .slice(0, query.limit);
      return { serviceKnown: true, ...assembleSearch(slots, clinics) };
    });
  }

  async book(cmd: BookCommand): Promise<BookResult> {
    return this.write(() =>
      this.db
        .transaction((): BookResult => {
          const replay = this.findReplay(cmd);
          if (replay) return replay;

          const slot = ((cmd.slotGuid &&
            this.prepare(`SELECT ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE s.SLOT_GUID = ?`).get(cmd.slotGuid.toLowerCase())) ||
            (cmd.slotId &&
              this.prepare(`SELECT ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE s.SLOT_ID = ?`).get(legacyIntegerId(cmd.slotId)))) as RawSlot | undefined;
          if (!slot) return { outcome: 'slot-not-found' };
          const row = toSlotRow(slot, this.clock);
          const mismatch = slotMismatch(row, cmd);
          if (mismatch) return { outcome: 'slot-mismatch', reason: mismatch };

          const nowLocal = this.clock.nowLocal();
          // The conditional UPDATE is the double-booking guard: only one transaction can move F → B.
          const taken = this
            .prepare(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'B', LAST_UPD_DTTM = ? WHERE SLOT_ID = ? AND SLOT_STATUS = 'F'`)
            .run(nowLocal, slot.SLOT_ID);
          if (taken.changes !== 1) return { outcome: 'slot-unavailable' };

          const patient = this.findOrRegisterPatient(cmd, nowLocal);
          const appt = this
            .prepare(
              `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
               VALUES (?, ?, 'B', ?, ?, ?, ?, ?)`,
            )
            .run(slot.SLOT_ID, patient.id, this.clock.toLocal(cmd.start), this.clock.toLocal(cmd.end), appointmentReason(cmd.reason), BOOKING_SOURCE_CODE, nowLocal);

          const resource = cmd.buildResource(patient.hospitalNumber);
          this
            .prepare(
              `INSERT INTO booking_FHIR_APPOINTMENT (APPOINTMENT_ID, PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS, LAST_UPDATED_UTC)
               VALUES (?, ?, ?, 1, 'booked', ?)`,
            )
            .run(cmd.appointmentId, appt.lastInsertRowid, slot.SLOT_ID, cmd.lastUpdated);
          this.insertVersion(cmd.appointmentId, 1, 'booked', cmd.lastUpdated, resource);
          this.insertRequest(cmd, 'book', cmd.appointmentId, 1);
          return { outcome: 'booked', version: this.readVersion(cmd.appointmentId, '1') as AppointmentVersion };
        })
        .immediate(),
    );
  }

  async searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]> {
    return this.guard(() => {
      const { sql, params } = appointmentSearchSql(query, this.clock.toLocal(query.endedBefore), 'sqlite');
      const rows = this.prepare(sql).all(...params.map((p) => p.value)) as RawVersion[];
      return rows.map(toAppointmentVersion);
    });
  }

  async readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    return this.guard(() => this.readVersion(appointmentId, versionId));
  }

  async cancel(cmd: CancelCommand): Promise<CancelResult> {
    return this.write(() =>
      this.db
        .transaction((): CancelResult => {
          const replay = this.findReplay(cmd);
          if (replay) return replay;

          const appt = this
            .prepare('SELECT PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS FROM booking_FHIR_APPOINTMENT WHERE APPOINTMENT_ID = ?')
            .get(cmd.appointmentId) as FhirAppointmentRow | undefined;
          const refusal = cancelRefusal(appt, cmd);
          if (refusal || !appt) return refusal ?? { outcome: 'not-found' };

          const next = appt.CURRENT_VERSION + 1;
          const moved = this
            .prepare(
              `UPDATE booking_FHIR_APPOINTMENT SET CURRENT_VERSION = ?, STATUS = 'cancelled', LAST_UPDATED_UTC = ?
                WHERE APPOINTMENT_ID = ? AND CURRENT_VERSION = ?`,
            )
            .run(next, cmd.lastUpdated, cmd.appointmentId, appt.CURRENT_VERSION);
          if (moved.changes !== 1) return { outcome: 'version-conflict', currentVersionId: String(appt.CURRENT_VERSION) };

          const nowLocal = this.clock.nowLocal();
          this
            .prepare(`UPDATE APPOINTMENT SET APPT_STATUS = 'C', CANCELLED_DTTM = ? WHERE APPT_ID = ? AND APPT_STATUS = 'B'`)
            .run(nowLocal, appt.PAS_APPT_ID);
          // Free the slot again (spec §19 #14) so another patient can book it.
          this
            .prepare(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F', LAST_UPD_DTTM = ? WHERE SLOT_ID = ? AND SLOT_STATUS = 'B'`)
            .run(nowLocal, appt.SLOT_ID);
          this.insertVersion(cmd.appointmentId, next, 'cancelled', cmd.lastUpdated, cmd.resource);
          this.insertRequest(cmd, 'cancel', cmd.appointmentId, next);
          return { outcome: 'cancelled', version: this.readVersion(cmd.appointmentId, String(next)) as AppointmentVersion };
        })
        .immediate(),
    );
  }

  async reconcile(_query: ReconcileQuery): Promise<ReconcileResult> {
    throw new Error('reconcile: not implemented yet');
  }

  async findWrite(ctx: WriteContext): Promise<ReplayedWrite | null> {
    return this.guard(() => this.findReplay(ctx) ?? null);
  }

  async ping(): Promise<void> {
    this.guard(() => this.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private findReplay(ctx: WriteContext): ReplayedWrite | undefined {
    const earlier = this
      .prepare('SELECT JOB_ID, APPOINTMENT_ID, VERSION_ID FROM booking_REQUEST_LOG WHERE REQUEST_ID = ?')
      .get(ctx.requestId) as RequestLogRow | undefined;
    if (!earlier) return undefined;
    return replayedWrite(earlier, ctx, this.readVersion(earlier.APPOINTMENT_ID, String(earlier.VERSION_ID)) as AppointmentVersion);
  }

  private findOrRegisterPatient(cmd: BookCommand, nowLocal: string): { id: number; hospitalNumber: string } {
    const p = cmd.patient;
    if (p.nhsNumber) {
      const known = this
        .prepare('SELECT PATIENT_ID, HOSP_NO FROM PATIENT WHERE NHS_NO = ? ORDER BY PATIENT_ID LIMIT 1')
        .get(p.nhsNumber) as { PATIENT_ID: number; HOSP_NO: string | null } | undefined;
      if (known?.HOSP_NO) return { id: known.PATIENT_ID, hospitalNumber: known.HOSP_NO.trim() };
    }
    const inserted = this.prepare(PATIENT_INSERT).run({ ...patientValues(p), CREATED_DTTM: nowLocal });
    const id = Number(inserted.lastInsertRowid);
    const hospitalNumber = temporaryHospitalNumber(id);
    this.prepare('UPDATE PATIENT SET HOSP_NO = ? WHERE PATIENT_ID = ?').run(hospitalNumber, id);
    return { id, hospitalNumber };
  }

  private insertVersion(appointmentId: string, versionId: number, status: string, lastUpdated: string, resource: Record<string, unknown>) {
    this
      .prepare(
        `INSERT INTO booking_FHIR_APPOINTMENT_VERSION (APPOINTMENT_ID, VERSION_ID, STATUS, LAST_UPDATED_UTC, RESOURCE_JSON)
         VALUES (?, ?, ?, ?, ?)`,
      )
      .run(appointmentId, versionId, status, lastUpdated, JSON.stringify(resource));
  }

  private insertRequest(ctx: WriteContext, interaction: string, appointmentId: string, versionId: number) {
    this
      .prepare(
        `INSERT INTO booking_REQUEST_LOG (REQUEST_ID, INTERACTION, JOB_ID, APPOINTMENT_ID, VERSION_ID, CREATED_UTC)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(ctx.requestId, interaction, ctx.jobId, appointmentId, versionId, new Date().toISOString());
  }

  private readVersion(appointmentId: string, versionId?: string): AppointmentVersion | null {
    const byVersion = versionId !== undefined;
    if (byVersion && !isVersionId(versionId)) return null;
    const raw = this
      .prepare(
        `SELECT ${VERSION_SELECT_COLUMNS}
           FROM booking_FHIR_APPOINTMENT a
           JOIN booking_FHIR_APPOINTMENT_VERSION v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID
          WHERE a.APPOINTMENT_ID = ? AND v.VERSION_ID = ${byVersion ? '?' : 'a.CURRENT_VERSION'}`,
      )
      .get(...(byVersion ? [appointmentId, Number(versionId)] : [appointmentId])) as RawVersion | undefined;
    return raw ? toAppointmentVersion(raw) : null;
  }

  /**
   * Statements compiled once per connection: better-sqlite3 compiles the SQL on every db.prepare(),
   * which was a noticeable share of a booking's worker CPU. Dynamic IN lists give a few variants per
   * query; the bound only guards against surprises.
   */
  private readonly statements = new Map<string, Database.Statement>();

  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= 500) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs a write transaction (BEGIN IMMEDIATE) without blocking the process while another worker
   * process holds the write lock. SQLite's own busy handler waits by sleeping inside the call
   * (1, 2, 5, 10… ms), which stalls every other job of this worker: with two workers on one PAS
   * file, booking was slower than with one. So the lock is tried without waiting and, while it is
   * taken, tried again after yielding to the event loop, within the same busy timeout. A failed
   * attempt has rolled back wholly, so trying again is safe.
   */
  private async write<T>(run: () => T): Promise<T> {
    const giveUp = Date.now() + this.busyTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      this.prepare('PRAGMA busy_timeout = 0').get();
      try {
        return run();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= giveUp) throw asTransient(error);
      } finally {
        this.prepare(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`).get();
      }
      // A lock held for one short transaction is often free after a turn of the event loop; then 1 ms steps.
      await (attempt <= 3 ? setImmediate() : sleep(1));
    }
  }

  /** SQLite's lock and busy errors are transient; everything else is a bug or a broken PAS. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw asTransient(error);
    }
  }
}

/** SQLite's lock and busy errors: another connection holds a lock we need. */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** A busy error becomes a TransientPasError (worth retrying); anything else is thrown as it is. */
function asTransient(error: unknown): unknown {
  if (!isBusy(error)) return error;
  return new TransientPasError(`SQLite PAS is busy (${(error as { code: string }).code})`, { cause: error });
}
