import sql, { type ConnectionPool, type IResult, type Transaction } from 'mssql';
import { slotMismatch } from '../booking-rules.js';
import { BOOKING_SOURCE_CODE, slotStatusCode, temporaryHospitalNumber } from '../legacy-codes.js';
import { LocalClock } from '../local-time.js';
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
import { mssqlConfig } from './connection.js';
import { varchar, wallClock } from './values.js';

export interface MssqlPasOptions {
  /** mssql://user:password@host:1433/database?… or Server=…;Database=…;User Id=…;Password=… */
  connectionString: string;
  timeZone?: string;
}

/** Queries run either on the pool or inside a transaction. */
type Runner = ConnectionPool | Transaction;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The SQL Server PAS (also Azure SQL and Babelfish): the legacy tables in the login's default schema
 * (dbo in the reference schema, unqualified as in CLINIC_SELECT), the product's own in "booking".
 *
 * Each write is one READ COMMITTED transaction, which is enough because nothing relies on a read
 * staying true: every decision that matters is re-checked by the statement that acts on it. The
 * slot moves F → B only through `UPDATE … WHERE SLOT_STATUS = 'F'` (one transaction wins, the
 * others see @@ROWCOUNT = 0), a cancel only through `UPDATE … WHERE CURRENT_VERSION = @read`,
 * and an X-Request-ID is recorded under a primary key. That holds under row versioning
 * (READ_COMMITTED_SNAPSHOT, Azure SQL's default) and on Babelfish too, since UPDATE re-reads the
 * committed row under its lock. When a write loses such a race, the adapter looks again for a
 * committed twin under the same X-Request-ID before answering, as the SQLite adapter (which
 * serialises whole transactions) would have found it first.
 */
export class MssqlPas implements PasPort {
  readonly kind = 'mssql';

  private constructor(
    readonly pool: ConnectionPool,
    private readonly clock: LocalClock,
  ) {}

  static async connect(options: MssqlPasOptions): Promise<MssqlPas> {
    const clock = new LocalClock(options.timeZone);
    const pool = new sql.ConnectionPool(mssqlConfig(options.connectionString));
    // Errors reach the request that meets them; an unheard 'error' event would end the process.
    pool.on('error', () => undefined);
    await guard(() => pool.connect());
    return new MssqlPas(pool, clock);
  }

  async searchSlots(query: SlotQuery): Promise<SlotSearchResult> {
    return guard(async () => {
      const clinics = (
        await this.pool
          .request()
          .input('serviceId', ...varchar(20, query.serviceId))
          .query<RawClinic>(`${CLINIC_SELECT} WHERE c.DOS_SERVICE_ID = @serviceId AND c.ACTIVE_FLAG = 'Y'`)
      ).recordset;
      if (clinics.length === 0) return { serviceKnown: false, ...assembleSearch([], []) };

      const request = this.pool.request();
      /** A parameterised IN list: @clinic0, @clinic1, … */
      const inList = (name: string, values: string[], width: number) => {
        for (const [i, v] of values.entries()) request.input(`${name}${i}`, ...varchar(width, v));
        return values.map((_, i) => `@${name}${i}`).join(', ');
      };
      const where = [`s.CLINIC_CODE IN (${inList('clinic', clinics.map((c) => c.CLINIC_CODE), 8)})`];
      let widened = false;
      if (query.startFrom) {
        const b = this.clock.queryBound(query.startFrom.instant, 'lower');
        request.input('startFrom', sql.DateTime, wallClock(b.local));
        where.push('s.START_DTTM >= @startFrom');
        widened ||= b.widened;
      }
      if (query.startTo) {
        const b = this.clock.queryBound(query.startTo.instant, 'upper');
        request.input('startTo', sql.DateTime, wallClock(b.local));
        where.push('s.START_DTTM <= @startTo');
        widened ||= b.widened;
      }
      if (query.statuses.length > 0) where.push(`s.SLOT_STATUS IN (${inList('status', query.statuses.map(slotStatusCode), 1)})`);
      // Rows in a widened hour are filtered out below, so fetch a margin beyond the limit.
      request.input('top', sql.Int, widened ? query.limit + 1000 : query.limit + 1);
      const raw = (
        await request.query<RawSlot>(`SELECT TOP (@top) ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE ${where.join(' AND ')} ORDER BY s.START_DTTM, s.SLOT_ID`)
      ).recordset;
      const slots = raw
        .map((r) => toSlotRow(r, this.clock))
        .filter((s) => withinBounds(s, query))
        .slice(0, query.limit);
      return { serviceKnown: true, ...assembleSearch(slots, clinics) };
    });
  }

  async book(cmd: BookCommand): Promise<BookResult> {
    return this.write(cmd, async (tx): Promise<BookResult> => {
      const replay = await this.findReplay(tx, cmd);
      if (replay) return replay;

      const slot = (cmd.slotGuid && (await this.slotByGuid(tx, cmd.slotGuid))) || (cmd.slotId && (await this.slotById(tx, cmd.slotId)));
      if (!slot) return { outcome: 'slot-not-found' };
      const mismatch = slotMismatch(toSlotRow(slot, this.clock), cmd);
      if (mismatch) return { outcome: 'slot-mismatch', reason: mismatch };

      const now = wallClock(this.clock.nowLocal());
      // The conditional UPDATE is the double-booking guard: only one transaction can move F → B.
      const taken = await changed(
        tx
          .request()
          .input('slotId', sql.Int, slot.SLOT_ID)
          .input('now', sql.DateTime, now)
          .query(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'B', LAST_UPD_DTTM = @now WHERE SLOT_ID = @slotId AND SLOT_STATUS = 'F'; SELECT @@ROWCOUNT AS CHANGED;`),
      );
      // Lost the slot: perhaps to a twin of this very request, which has committed by now.
      if (taken !== 1) return (await this.findReplay(tx, cmd)) ?? { outcome: 'slot-unavailable' };

      const patient = await this.findOrRegisterPatient(tx, cmd, now);
      const appointment = await tx
        .request()
        .input('slotId', sql.Int, slot.SLOT_ID)
        .input('patientId', sql.Int, patient.id)
        .input('start', sql.DateTime, wallClock(this.clock.toLocal(cmd.start)))
        .input('end', sql.DateTime, wallClock(this.clock.toLocal(cmd.end)))
        .input('reason', ...varchar(255, appointmentReason(cmd.reason)))
        .input('source', ...varchar(4, BOOKING_SOURCE_CODE))
        .input('now', sql.DateTime, now)
        .query<{ APPT_ID: number }>(
          `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
           VALUES (@slotId, @patientId, 'B', @start, @end, @reason, @source, @now);
           SELECT CAST(SCOPE_IDENTITY() AS INT) AS APPT_ID;`,
        );

      const resource = cmd.buildResource(patient.hospitalNumber);
      await tx
        .request()
        .input('id', ...varchar(36, cmd.appointmentId))
        .input('pasApptId', sql.Int, appointment.recordset[0]?.APPT_ID)
        .input('slotId', sql.Int, slot.SLOT_ID)
        .input('lastUpdated', sql.DateTime2(3), new Date(cmd.lastUpdated))
        .query(
          `INSERT INTO booking.FHIR_APPOINTMENT (APPOINTMENT_ID, PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS, LAST_UPDATED_UTC)
           VALUES (@id, @pasApptId, @slotId, 1, 'booked', @lastUpdated);`,
        );
      await this.insertVersion(tx, cmd.appointmentId, 1, 'booked', cmd.lastUpdated, resource);
      await this.insertRequest(tx, cmd, 'book', cmd.appointmentId, 1);
      return { outcome: 'booked', version: (await this.readVersion(tx, cmd.appointmentId, '1')) as AppointmentVersion };
    });
  }

  async searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]> {
    return guard(async () => {
      const { sql: text, params } = appointmentSearchSql(query, this.clock.toLocal(query.endedBefore), 'mssql');
      const request = this.pool.request();
      for (const { name, value } of params) {
        if (name === 'limit') request.input(name, sql.Int, value);
        else if (name === 'now') request.input(name, sql.DateTime, wallClock(String(value)));
        else request.input(name, ...varchar(name === 'nhsNumber' ? 10 : 36, String(value)));
      }
      return (await request.query<RawVersion>(text)).recordset.map(toAppointmentVersion);
    });
  }

  async readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    return guard(() => this.readVersion(this.pool, appointmentId, versionId));
  }

  async cancel(cmd: CancelCommand): Promise<CancelResult> {
    return this.write(cmd, async (tx): Promise<CancelResult> => {
      const replay = await this.findReplay(tx, cmd);
      if (replay) return replay;

      const appt = await this.fhirAppointment(tx, cmd.appointmentId);
      const refusal = cancelRefusal(appt, cmd);
      // A twin of this request may have committed since the look-up above: then answer with it.
      if (refusal || !appt) return (await this.findReplay(tx, cmd)) ?? refusal ?? { outcome: 'not-found' };

      const next = appt.CURRENT_VERSION + 1;
      const moved = await changed(
        tx
          .request()
          .input('id', ...varchar(36, cmd.appointmentId))
          .input('read', sql.Int, appt.CURRENT_VERSION)
          .input('next', sql.Int, next)
          .input('lastUpdated', sql.DateTime2(3), new Date(cmd.lastUpdated))
          .query(
            `UPDATE booking.FHIR_APPOINTMENT SET CURRENT_VERSION = @next, STATUS = 'cancelled', LAST_UPDATED_UTC = @lastUpdated
              WHERE APPOINTMENT_ID = @id AND CURRENT_VERSION = @read;
             SELECT @@ROWCOUNT AS CHANGED;`,
          ),
      );
      if (moved !== 1) {
        // Another write moved the appointment on since it was read: a twin of this request, or not.
        return (
          (await this.findReplay(tx, cmd)) ??
          cancelRefusal(await this.fhirAppointment(tx, cmd.appointmentId), cmd) ?? { outcome: 'version-conflict', currentVersionId: String(appt.CURRENT_VERSION) }
        );
      }

      // Cancel the legacy appointment and free the slot again (spec §19 #14) so another patient can book it.
      await tx
        .request()
        .input('pasApptId', sql.Int, appt.PAS_APPT_ID)
        .input('slotId', sql.Int, appt.SLOT_ID)
        .input('now', sql.DateTime, wallClock(this.clock.nowLocal()))
        .query(
          `UPDATE APPOINTMENT SET APPT_STATUS = 'C', CANCELLED_DTTM = @now WHERE APPT_ID = @pasApptId AND APPT_STATUS = 'B';
           UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F', LAST_UPD_DTTM = @now WHERE SLOT_ID = @slotId AND SLOT_STATUS = 'B';`,
        );
      await this.insertVersion(tx, cmd.appointmentId, next, 'cancelled', cmd.lastUpdated, cmd.resource);
      await this.insertRequest(tx, cmd, 'cancel', cmd.appointmentId, next);
      return { outcome: 'cancelled', version: (await this.readVersion(tx, cmd.appointmentId, String(next))) as AppointmentVersion };
    });
  }

  async reconcile(_query: ReconcileQuery): Promise<ReconcileResult> {
    throw new Error('reconcile: not implemented yet');
  }

  async findWrite(ctx: WriteContext): Promise<ReplayedWrite | null> {
    return guard(async () => (await this.findReplay(this.pool, ctx)) ?? null);
  }

  async ping(): Promise<void> {
    await guard(() => this.pool.request().query('SELECT 1 AS OK'));
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /**
   * Runs one write transaction; any failure rolls it back. A duplicate key means a concurrent twin
   * under the same X-Request-ID committed first (REQUEST_LOG's primary key): answer with its result.
   */
  private async write<T>(ctx: WriteContext, work: (tx: Transaction) => Promise<T>): Promise<T | ReplayedWrite> {
    return guard(async () => {
      const tx = this.pool.transaction();
      await tx.begin(sql.ISOLATION_LEVEL.READ_COMMITTED);
      try {
        const result = await work(tx);
        await tx.commit();
        return result;
      } catch (error) {
        // The server may have ended the transaction already (deadlock victim, lost connection).
        await tx.rollback().catch(() => undefined);
        if (errorNumbers(error).some((n) => n === 2627 || n === 2601)) {
          const twin = await this.findReplay(this.pool, ctx);
          if (twin) return twin;
        }
        throw error;
      }
    });
  }

  private async findReplay(runner: Runner, ctx: WriteContext): Promise<ReplayedWrite | undefined> {
    const earlier = (
      await runner
        .request()
        .input('requestId', ...varchar(100, ctx.requestId))
        .query<RequestLogRow>('SELECT JOB_ID, APPOINTMENT_ID, VERSION_ID FROM booking.REQUEST_LOG WHERE REQUEST_ID = @requestId')
    ).recordset[0];
    if (!earlier) return undefined;
    return replayedWrite(earlier, ctx, (await this.readVersion(runner, earlier.APPOINTMENT_ID.trim(), String(earlier.VERSION_ID))) as AppointmentVersion);
  }

  private async slotByGuid(tx: Transaction, slotGuid: string): Promise<RawSlot | undefined> {
    if (!GUID.test(slotGuid)) return undefined;
    const result = await tx
      .request()
      .input('guid', sql.UniqueIdentifier, slotGuid.toLowerCase())
      .query<RawSlot>(`SELECT ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE s.SLOT_GUID = @guid`);
    return result.recordset[0];
  }

  private async slotById(tx: Transaction, slotId: string): Promise<RawSlot | undefined> {
    const result = await tx
      .request()
      .input('slotId', sql.Int, legacyIntegerId(slotId))
      .query<RawSlot>(`SELECT ${SLOT_COLUMNS} FROM CLINIC_SLOT s WHERE s.SLOT_ID = @slotId`);
    return result.recordset[0];
  }

  private async findOrRegisterPatient(tx: Transaction, cmd: BookCommand, now: Date): Promise<{ id: number; hospitalNumber: string }> {
    const p = cmd.patient;
    if (p.nhsNumber) {
      const known = (
        await tx
          .request()
          .input('nhsNo', ...varchar(10, p.nhsNumber))
          .query<{ PATIENT_ID: number; HOSP_NO: string | null }>('SELECT TOP (1) PATIENT_ID, HOSP_NO FROM PATIENT WHERE NHS_NO = @nhsNo ORDER BY PATIENT_ID')
      ).recordset[0];
      if (known?.HOSP_NO?.trim()) return { id: known.PATIENT_ID, hospitalNumber: known.HOSP_NO.trim() };
    }
    const insert = tx.request().input('CREATED_DTTM', sql.DateTime, now);
    for (const [column, value] of Object.entries(patientValues(p))) {
      if (column === 'DOB') insert.input(column, sql.DateTime, wallClock(value as string));
      else insert.input(column, ...varchar(50, value));
    }
    // SCOPE_IDENTITY, not OUTPUT: a legacy PAS table may well carry triggers.
    const id = (await insert.query<{ PATIENT_ID: number }>(`${PATIENT_INSERT}; SELECT CAST(SCOPE_IDENTITY() AS INT) AS PATIENT_ID;`)).recordset[0]
      ?.PATIENT_ID as number;
    const hospitalNumber = temporaryHospitalNumber(id);
    await tx
      .request()
      .input('hospNo', ...varchar(10, hospitalNumber))
      .input('id', sql.Int, id)
      .query('UPDATE PATIENT SET HOSP_NO = @hospNo WHERE PATIENT_ID = @id');
    return { id, hospitalNumber };
  }

  private async fhirAppointment(tx: Transaction, appointmentId: string): Promise<FhirAppointmentRow | undefined> {
    const result = await tx
      .request()
      .input('id', ...varchar(36, appointmentId))
      .query<FhirAppointmentRow>('SELECT PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS FROM booking.FHIR_APPOINTMENT WHERE APPOINTMENT_ID = @id');
    return result.recordset[0];
  }

  private async insertVersion(tx: Transaction, appointmentId: string, versionId: number, status: string, lastUpdated: string, resource: Record<string, unknown>) {
    await tx
      .request()
      .input('id', ...varchar(36, appointmentId))
      .input('version', sql.Int, versionId)
      .input('status', ...varchar(20, status))
      .input('lastUpdated', sql.DateTime2(3), new Date(lastUpdated))
      .input('json', sql.NVarChar(sql.MAX), JSON.stringify(resource))
      .query(
        `INSERT INTO booking.FHIR_APPOINTMENT_VERSION (APPOINTMENT_ID, VERSION_ID, STATUS, LAST_UPDATED_UTC, RESOURCE_JSON)
         VALUES (@id, @version, @status, @lastUpdated, @json);`,
      );
  }

  private async insertRequest(tx: Transaction, ctx: WriteContext, interaction: string, appointmentId: string, versionId: number) {
    await tx
      .request()
      .input('requestId', ...varchar(100, ctx.requestId))
      .input('interaction', ...varchar(10, interaction))
      .input('jobId', ...varchar(100, ctx.jobId))
      .input('id', ...varchar(36, appointmentId))
      .input('version', sql.Int, versionId)
      .query(
        `INSERT INTO booking.REQUEST_LOG (REQUEST_ID, INTERACTION, JOB_ID, APPOINTMENT_ID, VERSION_ID, CREATED_UTC)
         VALUES (@requestId, @interaction, @jobId, @id, @version, SYSUTCDATETIME());`,
      );
  }

  private async readVersion(runner: Runner, appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    const byVersion = versionId !== undefined;
    if (byVersion && !isVersionId(versionId)) return null;
    const request = runner.request().input('id', ...varchar(36, appointmentId));
    if (byVersion) request.input('version', sql.Int, Number(versionId));
    const raw = (
      await request.query<RawVersion>(
        `SELECT ${VERSION_SELECT_COLUMNS}
           FROM booking.FHIR_APPOINTMENT a
           JOIN booking.FHIR_APPOINTMENT_VERSION v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID
          WHERE a.APPOINTMENT_ID = @id AND v.VERSION_ID = ${byVersion ? '@version' : 'a.CURRENT_VERSION'}`,
      )
    ).recordset[0];
    return raw ? toAppointmentVersion(raw) : null;
  }
}

/** The @@ROWCOUNT a statement batch selected (immune to NOCOUNT and to triggers' own counts). */
async function changed(result: Promise<IResult<{ CHANGED: number }>>): Promise<number> {
  return (await result).recordset[0]?.CHANGED ?? 0;
}

/** Deadlock victim, lock timeout, and Azure SQL's "try again" errors. */
const TRANSIENT_NUMBERS = new Set([1205, 1222, 40197, 40501, 40613]);
/** Connection-level failures (mssql codes, and the socket's own underneath). */
const TRANSIENT_CODES = new Set(['ESOCKET', 'ECONNRESET', 'ETIMEOUT', 'ECONNCLOSED']);

/** The error and every error wrapped inside it (mssql keeps the driver's as originalError). */
function errorChain(error: unknown): Record<string, unknown>[] {
  const chain: Record<string, unknown>[] = [];
  let e: unknown = error;
  while (e && typeof e === 'object' && chain.length < 6 && !chain.includes(e as Record<string, unknown>)) {
    const current = e as Record<string, unknown>;
    chain.push(current);
    e = current.originalError ?? current.cause;
  }
  return chain;
}

function errorNumbers(error: unknown): number[] {
  return errorChain(error)
    .map((e) => e.number)
    .filter((n): n is number => typeof n === 'number');
}

export function isTransientMssqlError(error: unknown): boolean {
  return (
    errorNumbers(error).some((n) => TRANSIENT_NUMBERS.has(n)) ||
    errorChain(error).some((e) => typeof e.code === 'string' && TRANSIENT_CODES.has(e.code))
  );
}

/** Maps transient failures to TransientPasError (the worker retries those); everything else rethrows. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isTransientMssqlError(error)) {
      throw new TransientPasError(`SQL Server PAS unavailable for now: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
}
