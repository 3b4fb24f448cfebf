import { DEFAULT_STATUS_MAPPING, type StatusMapping } from '../appointment-status.js';
import { heldByLiveAppointment, slotMismatch } from '../booking-rules.js';
import { BOOKING_SOURCE_CODE } from '../legacy-codes.js';
import type { LocalClock } from '../local-time.js';
import type {
  AppointmentQuery,
  AppointmentVersion,
  BookCommand,
  BookResult,
  CancelCommand,
  CancelResult,
  PasChangeKind,
  PasObserver,
  ReconcileQuery,
  ReconcileResult,
  ReplayedWrite,
  WriteContext,
  WriteDeadline,
} from '../port.js';
import { WriteDeadlinePassedError } from '../port.js';
import { type RawVersion, toAppointmentVersion, unreadableReason, VERSION_SELECT_COLUMNS } from '../row-mapping.js';
import { codeList, commit, exactly, insertedId, legacyCode, type Params, type PasDatabase, type PasSession, rollback, sqlp, type TxOutcome, UnexpectedRowCount } from '../session.js';
import { appointmentReason, isVersionId, legacyIntegerId, PATIENT_INSERT, patientValues, type RequestLogRow, replayedWrite } from '../write-helpers.js';
import { asVersion, type ComposeRow, type Composed, compose, composeSelect, FINAL_STATUSES, withSlotAsPas } from './compose.js';

/** The temporary hospital number given to a patient registered by a booking: prefix + zero-padded id. */
export interface HospitalNumberFormat {
  /** Default 'T'. Letters and digits only. */
  prefix: string;
  /** Total width, prefix included (default 10, the reference HOSP_NO CHAR(10)). */
  width: number;
}

export const DEFAULT_HOSPITAL_NUMBER: HospitalNumberFormat = { prefix: 'T', width: 10 };

/** PATIENT.HOSP_NO is CHAR(10): a longer number would be cut or refused by the PAS. */
export const HOSPITAL_NUMBER_COLUMN_WIDTH = 10;

export function checkHospitalNumberFormat(f: HospitalNumberFormat): HospitalNumberFormat {
  if (!/^[A-Za-z0-9]{0,9}$/.test(f.prefix)) throw new Error(`temporary hospital number prefix "${f.prefix}": letters and digits only, at most 9`);
  if (!Number.isInteger(f.width) || f.width < f.prefix.length + 4 || f.width > HOSPITAL_NUMBER_COLUMN_WIDTH) {
    throw new Error(
      `temporary hospital number width ${f.width}: must be a whole number from prefix length + 4 to ${HOSPITAL_NUMBER_COLUMN_WIDTH} (PATIENT.HOSP_NO is CHAR(${HOSPITAL_NUMBER_COLUMN_WIDTH}))`,
    );
  }
  return f;
}

export function temporaryHospitalNumber(format: HospitalNumberFormat, patientId: number): string {
  const digits = String(patientId);
  const room = format.width - format.prefix.length;
  if (digits.length > room) throw new Error(`patient id ${patientId} does not fit a ${format.width}-character temporary hospital number`);
  return `${format.prefix}${digits.padStart(room, '0')}`;
}

/** How many numbers a new patient may be offered before the booking fails with a clear error. */
export const HOSPITAL_NUMBER_TRIES = 10;

/**
 * The numbers a new patient is offered, in order: prefix + its padded id, then, should the trust
 * already use that one (its own series under the same prefix), numbers counted down from the top
 * of the range, 10 per id (top − (10·id + k), k = 1…9), which no other patient's list holds until
 * ids reach a tenth of the range. Deterministic: a retry offers the same numbers.
 */
export function temporaryHospitalNumbers(format: HospitalNumberFormat, patientId: number): string[] {
  const room = format.width - format.prefix.length;
  const top = 10 ** room;
  const numbers = [temporaryHospitalNumber(format, patientId)];
  for (let k = 1; k < HOSPITAL_NUMBER_TRIES; k++) {
    const n = top - (patientId * HOSPITAL_NUMBER_TRIES + k);
    if (n > patientId) numbers.push(temporaryHospitalNumber(format, n));
  }
  return numbers;
}

export interface RepositoryOptions {
  clock: LocalClock;
  statusMapping?: StatusMapping;
  observer?: PasObserver;
  hospitalNumber?: HospitalNumberFormat;
  /** The identifier system of the hospital number on the contained Patient (kept in step with the PAS). */
  localPatientIdSystem?: string;
}

type Via = 'read' | 'search' | 'cancel' | 'reconcile';

/** A slot as the booking reads it, with its clinic's publication. */
type SlotRow = {
  SLOT_ID: number;
  SLOT_GUID: string;
  CLINIC_CODE: string | null;
  START_DTTM: string | Date;
  END_DTTM: string | Date;
  ACTIVE_FLAG: string | null;
  DOS_SERVICE_ID: string | null;
};

/** The same slot times and clinic, compared as the guard compares them (values as read). */
function sameSlot(a: SlotRow, b: SlotRow): boolean {
  const asRead = (v: string | Date) => sqlp.asRead(v).value;
  return asRead(a.START_DTTM) === asRead(b.START_DTTM) && asRead(a.END_DTTM) === asRead(b.END_DTTM) && a.CLINIC_CODE === b.CLINIC_CODE;
}

/** The patient a booking is for: its hospital number trimmed (answered) and exactly as read (the insert's condition). */
interface ChosenPatient {
  id: number;
  hospitalNumber: string;
  hospNoAsRead: string;
}

/** A legacy datetime as 'YYYY-MM-DD HH:MM:SS' wall-clock text: SQLite's text, or a SQL Server DATETIME's Date (useUTC). */
function wallClockText(value: string | Date): string {
  return value instanceof Date ? value.toISOString().slice(0, 19).replace('T', ' ') : value.slice(0, 19);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every PAS transaction, written once over the session interface: book, cancel, compose-and-version
 * (read, vread of the current version, search, cancel, reconcile) and replay. The adapters supply
 * the database (connecting, transactions, dialect, error mapping) and nothing else.
 *
 * Every write that matters is a conditional statement whose row count is checked; a read before
 * it only chooses which answer to give when the statement finds nothing to change.
 */
export class PasRepository {
  private readonly mapping: StatusMapping;
  private readonly hospitalNumber: HospitalNumberFormat;

  constructor(
    private readonly db: PasDatabase,
    private readonly options: RepositoryOptions,
  ) {
    this.mapping = options.statusMapping ?? DEFAULT_STATUS_MAPPING;
    this.hospitalNumber = checkHospitalNumberFormat(options.hospitalNumber ?? DEFAULT_HOSPITAL_NUMBER);
  }

  private get clock(): LocalClock {
    return this.options.clock;
  }

  private b(table: string): string {
    return this.db.dialect.booking(table);
  }


  // ---------------------------------------------------------------- book

  book(cmd: BookCommand): Promise<BookResult> {
    return this.write(cmd, (s) => this.bookIn(s, cmd));
  }

  private async bookIn(s: PasSession, cmd: BookCommand) {
    const replay = await this.findReplay(s, cmd);
    if (replay) return rollback<BookResult>(replay);

    const slot = await this.findSlot(s, cmd);
    if (!slot) return rollback<BookResult>({ outcome: 'slot-not-found' });
    const mismatch = slotMismatch(
      { slotGuid: slot.SLOT_GUID.trim().toLowerCase(), start: this.clock.toInstant(slot.START_DTTM), end: this.clock.toInstant(slot.END_DTTM) },
      cmd,
    );
    if (mismatch) return rollback<BookResult>({ outcome: 'slot-mismatch', reason: mismatch });

    const nowLocal = this.clock.nowLocal();
    // The double-booking guard, all in one conditional statement: a free slot, starting in the
    // future, of an active clinic published to the directory, held by no live legacy appointment,
    // and still the slot as read above (times and clinic sent back as read): the SELECT kept no
    // lock, so a clerk may have re-timed it or moved it to another clinic since.
    const taken = await s.execute(
      `UPDATE CLINIC_SLOT SET SLOT_STATUS = 'B', LAST_UPD_DTTM = @now
        WHERE SLOT_ID = @slot AND ${legacyCode('SLOT_STATUS')} = 'F' AND START_DTTM > @now
          AND START_DTTM = @readStart AND END_DTTM = @readEnd AND CLINIC_CODE = @readClinic
          AND EXISTS (SELECT 1 FROM CLINIC c WHERE c.CLINIC_CODE = CLINIC_SLOT.CLINIC_CODE
                         AND ${legacyCode('c.ACTIVE_FLAG')} = 'Y' AND ${legacyCode('c.DOS_SERVICE_ID')} <> '')
          AND NOT ${heldByLiveAppointment('@slot', this.mapping.cancelledCodes)}`,
      {
        slot: sqlp.int(slot.SLOT_ID),
        now: sqlp.local(nowLocal),
        readStart: sqlp.asRead(slot.START_DTTM),
        readEnd: sqlp.asRead(slot.END_DTTM),
        readClinic: sqlp.key(slot.CLINIC_CODE, slot.CLINIC_CODE?.length ?? 1),
      },
    );
    if (taken !== 1) {
      if (taken !== 0) throw new UnexpectedRowCount('taking the slot', 1, taken);
      // Lost the slot: perhaps to a twin of this very request, which has committed by now.
      const twin = await this.findReplay(s, cmd);
      if (twin) return rollback<BookResult>(twin);
      // Answered from the slot as it is now: when its times or clinic moved since the first read,
      // the retry decides everything again (mismatch, unavailable, not found, or booked).
      const now = await this.slotRow(s, 's.SLOT_ID = @slot', { slot: sqlp.int(slot.SLOT_ID) });
      if (!now) return rollback<BookResult>({ outcome: 'slot-not-found' });
      if (!sameSlot(now, slot)) throw new UnexpectedRowCount('taking the slot as it was read', 1, 0);
      const published = now.ACTIVE_FLAG?.trim().toUpperCase() === 'Y' && Boolean(now.DOS_SERVICE_ID?.trim());
      return rollback<BookResult>(published ? { outcome: 'slot-unavailable' } : { outcome: 'slot-not-found' });
    }

    const patient = await this.findOrRegisterPatient(s, cmd, nowLocal);
    // Only onto the patient row as chosen above: a clerk may since have corrected its NHS number
    // (it was someone else's), given it another hospital number or merged it away. None adds a row:
    // rolled back, and the retry looks the patient up again.
    const pasApptId = await insertedId(
      s,
      'booking the appointment for the patient as found',
      `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
       SELECT @slot, PATIENT_ID, @status, @start, @end, @reason, @source, @now FROM PATIENT
        WHERE PATIENT_ID = @patient AND HOSP_NO = @readHospNo${cmd.patient.nhsNumber ? ' AND NHS_NO = @nhs' : ''}`,
      {
        slot: sqlp.int(slot.SLOT_ID),
        patient: sqlp.int(patient.id),
        readHospNo: sqlp.key(patient.hospNoAsRead, patient.hospNoAsRead.length),
        ...(cmd.patient.nhsNumber ? { nhs: sqlp.key(cmd.patient.nhsNumber, 10) } : {}),
        status: sqlp.text(this.mapping.bookedCode),
        start: sqlp.local(this.clock.toLocal(cmd.start)),
        end: sqlp.local(this.clock.toLocal(cmd.end)),
        reason: sqlp.text(appointmentReason(cmd.reason)),
        source: sqlp.text(BOOKING_SOURCE_CODE),
        now: sqlp.local(nowLocal),
      },
    );
    // The first version's contained Slot as the PAS has the slot, so that a later difference is a change the PAS made.
    const resource = withSlotAsPas(cmd.buildResource(patient.hospitalNumber), {
      start: this.clock.toInstant(slot.START_DTTM),
      end: this.clock.toInstant(slot.END_DTTM),
      clinic: slot.CLINIC_CODE?.trim() ?? '',
    });
    await exactly(
      s,
      1,
      'recording the appointment',
      `INSERT INTO ${this.b('FHIR_APPOINTMENT')} (APPOINTMENT_ID, PAS_APPT_ID, SLOT_ID, CURRENT_VERSION, STATUS, LAST_UPDATED_UTC, PAS_PATIENT_ID)
       VALUES (@id, @pasAppt, @slot, 1, 'booked', @lastUpdated, @patient)`,
      { id: sqlp.text(cmd.appointmentId), pasAppt: sqlp.int(pasApptId), slot: sqlp.int(slot.SLOT_ID), lastUpdated: sqlp.utc(cmd.lastUpdated), patient: sqlp.int(patient.id) },
    );
    await this.insertVersion(s, cmd.appointmentId, 1, 'booked', cmd.lastUpdated, resource);
    await this.insertRequest(s, cmd, 'book', cmd.appointmentId, 1);
    return commit<BookResult>({
      outcome: 'booked',
      version: { appointmentId: cmd.appointmentId, versionId: '1', lastUpdated: cmd.lastUpdated, status: 'booked', resource, current: true },
    });
  }

  /** The slot by its identifier (UUID) when given, else by its logical id, with its clinic's publication. */
  private async findSlot(s: PasSession, cmd: BookCommand): Promise<SlotRow | undefined> {
    if (cmd.slotGuid && GUID.test(cmd.slotGuid)) {
      const row = await this.slotRow(s, 's.SLOT_GUID = @guid', { guid: sqlp.guid(cmd.slotGuid.toLowerCase()) });
      if (row) return row;
    }
    if (cmd.slotId) return this.slotRow(s, 's.SLOT_ID = @slot', { slot: sqlp.int(legacyIntegerId(cmd.slotId)) });
    return undefined;
  }

  private async slotRow(s: PasSession, where: string, params: Params): Promise<SlotRow | undefined> {
    const [row] = await s.query<SlotRow>(
      `SELECT s.SLOT_ID, s.SLOT_GUID, s.CLINIC_CODE, s.START_DTTM, s.END_DTTM, c.ACTIVE_FLAG, c.DOS_SERVICE_ID
         FROM CLINIC_SLOT s LEFT JOIN CLINIC c ON c.CLINIC_CODE = s.CLINIC_CODE WHERE ${where}`,
      params,
    );
    return row;
  }

  /**
   * A patient with the NHS number and a hospital number is reused (trimmed: CHAR columns come
   * blank-padded, and an all-blank number is no number); anyone else is registered as temporary.
   */
  private async findOrRegisterPatient(s: PasSession, cmd: BookCommand, nowLocal: string): Promise<ChosenPatient> {
    const p = cmd.patient;
    if (p.nhsNumber) {
      const known = await this.patientByNhsNumber(s, p.nhsNumber);
      if (known) return known;
      // Registrations take turns on one row, then look again: a concurrent booking for the same
      // new NHS number may have registered the patient, uncommitted and so unseen until now.
      const taken = await s.execute(`UPDATE ${this.b('PATIENT_REGISTRATION')} SET LAST_REGISTERED_UTC = @now WHERE LOCK_ID = 1`, {
        now: sqlp.utc(new Date().toISOString()),
      });
      if (taken !== 1) {
        throw new Error(`${this.b('PATIENT_REGISTRATION')} has ${taken} rows with LOCK_ID 1, not one: run docker/pas/02-booking-schema.sql (idempotent) to add it`);
      }
      const registered = await this.patientByNhsNumber(s, p.nhsNumber);
      if (registered) return registered;
    }
    const values = patientValues(p);
    const params = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, k === 'DOB' ? sqlp.local(v) : sqlp.text(v)]));
    const id = await insertedId(s, 'registering the patient', PATIENT_INSERT, { ...params, CREATED_DTTM: sqlp.local(nowLocal) });
    // The first number no patient holds yet: the trust may have its own numbers under the prefix,
    // and a unique-index violation would fail this booking, and on SQLite (whose rolled-back id is
    // given out again) every later one.
    const offered = temporaryHospitalNumbers(this.hospitalNumber, id);
    for (const hospitalNumber of offered) {
      const given = await s.execute(
        `UPDATE PATIENT SET HOSP_NO = @hosp
          WHERE PATIENT_ID = @id AND NOT EXISTS (SELECT 1 FROM PATIENT held WHERE held.HOSP_NO = @held)`,
        { hosp: sqlp.text(hospitalNumber), held: sqlp.key(hospitalNumber, HOSPITAL_NUMBER_COLUMN_WIDTH), id: sqlp.int(id) },
      );
      if (given === 1) return { id, hospitalNumber, hospNoAsRead: hospitalNumber };
      if (given !== 0) throw new UnexpectedRowCount('giving the patient a hospital number', 1, given);
    }
    throw new Error(
      `no free temporary hospital number for a new patient: ${offered.join(', ')} are all held by other patients; set PAS_TEMP_HOSPITAL_NUMBER_PREFIX to a prefix the trust does not use`,
    );
  }

  /** The patient with this NHS number and a hospital number (the lowest id if the PAS holds several). */
  private async patientByNhsNumber(s: PasSession, nhsNumber: string): Promise<ChosenPatient | undefined> {
    const [known] = await s.query<{ PATIENT_ID: number; HOSP_NO: string | null }>(
      `SELECT ${this.db.dialect.top('1')} PATIENT_ID, HOSP_NO FROM PATIENT
        WHERE NHS_NO = @nhs AND HOSP_NO IS NOT NULL AND ${legacyCode('HOSP_NO')} <> '' ORDER BY PATIENT_ID ${this.db.dialect.limit('1')}`,
      { nhs: sqlp.key(nhsNumber, 10) },
    );
    const hospitalNumber = known?.HOSP_NO?.trim();
    return known?.HOSP_NO && hospitalNumber ? { id: known.PATIENT_ID, hospitalNumber, hospNoAsRead: known.HOSP_NO } : undefined;
  }

  // ---------------------------------------------------------------- cancel

  cancel(cmd: CancelCommand): Promise<CancelResult> {
    return this.write(cmd, (s) => this.cancelIn(s, cmd));
  }

  /**
   * Decides from the legacy rows inside the transaction, in the harness's order: unknown, stale
   * If-Match (a PAS-side change is a version too), a final state on either side, an appointment
   * that has begun, then the conditional updates: the legacy appointment only as it was read; the slot it holds now,
   * freed only while no other live appointment holds it.
   */
  private async cancelIn(s: PasSession, cmd: CancelCommand) {
    const replay = await this.findReplay(s, cmd);
    if (replay) return rollback<CancelResult>(replay);

    const row = await this.composeRow(s, cmd.appointmentId);
    if (!row) return rollback<CancelResult>({ outcome: 'not-found' });
    let current = row.CURRENT_VERSION;
    const composed = compose(row, this.mapping, this.clock, this.options.localPatientIdSystem);
    if (composed.unknownCode !== undefined) this.options.observer?.unknownCode('APPOINTMENT.APPT_STATUS', composed.unknownCode);
    if (composed.kinds.length > 0) {
      // The PAS changed it since the consumer read it: recorded as the newer version it is, which
      // makes the consumer's If-Match stale.
      const detected = new Date().toISOString();
      current = await this.moveVersion(s, cmd.appointmentId, current, composed.status, row.SLOT_ID, row.PATIENT_ID, detected);
      await this.insertVersion(s, cmd.appointmentId, current, composed.status, detected, asVersion(composed.resource, current, detected));
      this.options.observer?.pasChange(composed.kinds, 'cancel');
      return commit<CancelResult>({ outcome: 'version-conflict', currentVersionId: String(current) });
    }
    if (String(current) !== cmd.expectedVersionId) {
      const twin = await this.findReplay(s, cmd);
      return rollback<CancelResult>(twin ?? { outcome: 'version-conflict', currentVersionId: String(current) });
    }
    const storedStatus = row.STORED_STATUS.trim();
    const cancellable = composed.legacy && (composed.legacy.status === 'booked' || composed.legacy.status === 'arrived');
    if (!cancellable || storedStatus === 'cancelled' || row.SLOT_ID === null) {
      return rollback<CancelResult>({ outcome: 'invalid-state', status: composed.legacy?.status ?? storedStatus });
    }

    // An appointment that has begun is the clinic's (attended, did not attend): a cancel would lose
    // that and free a slot nobody can book any more. Compared as the booking guard compares, on the
    // legacy wall clock, so this check and the UPDATE's own START_DTTM > @now always agree.
    const nowLocal = this.clock.nowLocal();
    if (wallClockText(row.START_DTTM as string | Date) <= nowLocal) {
      return rollback<CancelResult>({ outcome: 'invalid-state', status: composed.legacy?.status ?? storedStatus, started: this.clock.toInstant(row.START_DTTM as string | Date) });
    }

    const now = sqlp.local(nowLocal);
    // Only the legacy row exactly as composed above: under READ COMMITTED (RCSI or not) the SELECT
    // kept no lock, so a clerk's arrival, new time or relinked patient committed since then must
    // make this change nothing (rolled back; the retry composes it and answers version-conflict).
    const readStatus = row.APPT_STATUS as string;
    await exactly(
      s,
      1,
      'cancelling the legacy appointment',
      `UPDATE APPOINTMENT SET APPT_STATUS = @cancelled, CANCELLED_DTTM = @now
        WHERE APPT_ID = @appt AND SLOT_ID = @slot AND PATIENT_ID = @patient AND APPT_STATUS = @readStatus
          AND START_DTTM = @readStart AND END_DTTM = @readEnd AND START_DTTM > @now
          AND ${legacyCode('APPT_STATUS')} IN (${codeList(this.mapping.cancellableCodes)})`,
      {
        cancelled: sqlp.text(this.mapping.patientCancelCode),
        now,
        appt: sqlp.int(row.PAS_APPT_ID),
        slot: sqlp.int(row.SLOT_ID),
        patient: sqlp.int(row.PATIENT_ID),
        readStatus: sqlp.key(readStatus, readStatus.length),
        readStart: sqlp.asRead(row.START_DTTM),
        readEnd: sqlp.asRead(row.END_DTTM),
      },
    );
    const freed = await s.execute(
      `UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F', LAST_UPD_DTTM = @now
        WHERE SLOT_ID = @slot AND ${legacyCode('SLOT_STATUS')} = 'B'
          AND NOT EXISTS (SELECT 1 FROM APPOINTMENT a WHERE a.SLOT_ID = @slot AND a.APPT_ID <> @appt
                             AND ${legacyCode('a.APPT_STATUS')} NOT IN (${codeList(this.mapping.cancelledCodes)}))`,
      { now, slot: sqlp.int(row.SLOT_ID), appt: sqlp.int(row.PAS_APPT_ID) },
    );
    // 0: another live appointment holds the slot, or the PAS has it withdrawn; both stay as they are.
    if (freed > 1) throw new UnexpectedRowCount('freeing the slot', 1, freed);
    current = await this.moveVersion(s, cmd.appointmentId, current, 'cancelled', row.SLOT_ID, row.PATIENT_ID, cmd.lastUpdated);
    // Recorded with PAS_PATIENT_ID from now on, so its contained Slot is compared with the PAS: stored
    // as the PAS has the slot (a version from before held the consumer's copy, and read as changed).
    const resource =
      row.SLOT_START && row.SLOT_END
        ? withSlotAsPas(cmd.resource, { start: this.clock.toInstant(row.SLOT_START), end: this.clock.toInstant(row.SLOT_END), clinic: row.CLINIC_CODE?.trim() ?? '' })
        : cmd.resource;
    await this.insertVersion(s, cmd.appointmentId, current, 'cancelled', cmd.lastUpdated, resource);
    await this.insertRequest(s, cmd, 'cancel', cmd.appointmentId, current);
    return commit<CancelResult>({
      outcome: 'cancelled',
      version: { appointmentId: cmd.appointmentId, versionId: String(current), lastUpdated: cmd.lastUpdated, status: 'cancelled', resource, current: true },
    });
  }

  // ---------------------------------------------------------------- reads

  /** The current version composed from the PAS rows (recording a new one if they changed), or a stored one. */
  async readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    if (versionId !== undefined && !isVersionId(versionId)) return null;
    const row = await this.db.read((s) => this.composeRow(s, appointmentId));
    if (!row) return null;
    const current = await this.follow(row, 'read');
    if (versionId === undefined || versionId === current.versionId) return current;
    return this.db.read((s) => this.readVersion(s, appointmentId, versionId));
  }

  async searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]> {
    const where: string[] = [];
    const params: Record<string, ReturnType<typeof sqlp.int>> = { limit: sqlp.int(query.limit) };
    if (query.nhsNumber !== undefined) {
      where.push('pt.NHS_NO = @nhs', 'p.END_DTTM >= @now');
      params.nhs = sqlp.key(query.nhsNumber, 10);
      params.now = sqlp.local(this.clock.toLocal(query.endedBefore));
    }
    if (query.appointmentId !== undefined) {
      where.push('f.APPOINTMENT_ID = @id');
      params.id = sqlp.key(query.appointmentId, 36);
    }
    if (where.length === 0) throw new Error('an appointment search needs an NHS number or an id');
    const d = this.db.dialect;
    const rows = await this.db.read((s) =>
      s.query<ComposeRow>(`SELECT ${d.top('@limit')} ${composeSelect((t) => this.b(t))} WHERE ${where.join(' AND ')} ORDER BY p.START_DTTM ${d.limit('@limit')}`, params),
    );
    const versions: AppointmentVersion[] = [];
    for (const row of rows) {
      if (query.appointmentId !== undefined && !sameId(row, query.appointmentId)) continue;
      // One unreadable appointment must not hide the patient's others; asked for by id, it fails as a read does.
      const composed = query.appointmentId === undefined ? this.composedOrReported(row) : undefined;
      if (query.appointmentId === undefined && !composed) continue;
      versions.push(await this.follow(row, 'search', composed));
    }
    return versions;
  }

  /**
   * One bounded step of the sweep: the product's appointments that have not ended, or are not yet
   * in a final state, in APPOINTMENT_ID order after `after`.
   */
  async reconcile(query: ReconcileQuery): Promise<ReconcileResult> {
    const d = this.db.dialect;
    const rows = await this.db.read((s) =>
      s.query<ComposeRow>(
        `SELECT ${d.top('@limit')} ${composeSelect((t) => this.b(t))}
          WHERE f.APPOINTMENT_ID > @after AND (p.END_DTTM >= @now OR f.STATUS NOT IN (${codeList(FINAL_STATUSES)}))
          ORDER BY f.APPOINTMENT_ID ${d.limit('@limit')}`,
        { limit: sqlp.int(query.limit), after: sqlp.key(query.after ?? '', 36), now: sqlp.local(this.clock.toLocal(query.now)) },
      ),
    );
    let versioned = 0;
    let unreadable = 0;
    for (const row of rows) {
      // One unreadable row must not stop every sweep at this page for good: reported, passed over.
      const composed = this.composedOrReported(row);
      if (!composed) {
        unreadable++;
        continue;
      }
      const before = row.CURRENT_VERSION;
      const after = await this.follow(row, 'reconcile', composed);
      if (Number(after.versionId) !== before) versioned++;
    }
    const last = rows.at(-1);
    return { checked: rows.length, versioned, unreadable, ...(rows.length === query.limit && last ? { next: last.APPOINTMENT_ID.trim() } : {}) };
  }

  /** The row composed, or undefined when it cannot be (its datetimes unread): then reported by its appointment id. */
  private composedOrReported(row: ComposeRow): Composed | undefined {
    try {
      return compose(row, this.mapping, this.clock, this.options.localPatientIdSystem);
    } catch (error) {
      this.options.observer?.unreadableRow('APPOINTMENT', row.APPOINTMENT_ID.trim(), unreadableReason(error));
      return undefined;
    }
  }

  async findWrite(ctx: WriteContext): Promise<ReplayedWrite | null> {
    return (await this.db.read((s) => this.findReplay(s, ctx))) ?? null;
  }

  /**
   * The current version as the PAS rows say it is. When they differ from the stored current
   * version, a new version is recorded in its own transaction, moved on by a conditional UPDATE of
   * CURRENT_VERSION: two readers detecting the same change cannot both record version n+1; the
   * loser composes again on top of the winner's version.
   */
  private async follow(row: ComposeRow, via: Via, composedFirst?: Composed): Promise<AppointmentVersion> {
    for (let attempt = 0; ; attempt++) {
      const composed = attempt === 0 && composedFirst ? composedFirst : compose(row, this.mapping, this.clock, this.options.localPatientIdSystem);
      if (composed.unknownCode !== undefined) this.options.observer?.unknownCode('APPOINTMENT.APPT_STATUS', composed.unknownCode);
      if (composed.kinds.length === 0) return this.storedCurrent(row);
      const detected = new Date().toISOString();
      type Step = { row: ComposeRow; version?: AppointmentVersion; kinds?: PasChangeKind[] } | undefined;
      const result = await this.db.transaction<Step>(async (s) => {
        const fresh = await this.composeRow(s, row.APPOINTMENT_ID.trim());
        if (!fresh) return rollback(undefined);
        const again = compose(fresh, this.mapping, this.clock, this.options.localPatientIdSystem);
        if (again.kinds.length === 0) return rollback({ row: fresh });
        const next = await this.moveVersion(s, fresh.APPOINTMENT_ID.trim(), fresh.CURRENT_VERSION, again.status, fresh.SLOT_ID, fresh.PATIENT_ID, detected, true);
        if (next === 0) return rollback({ row: fresh });
        const resource = asVersion(again.resource, next, detected);
        await this.insertVersion(s, fresh.APPOINTMENT_ID.trim(), next, again.status, detected, resource);
        const version: AppointmentVersion = { appointmentId: fresh.APPOINTMENT_ID.trim(), versionId: String(next), lastUpdated: detected, status: again.status, resource, current: true };
        return commit({ row: fresh, version, kinds: again.kinds });
      });
      if (!result) return this.storedCurrent(row);
      if (result.version) {
        if (result.kinds) this.options.observer?.pasChange(result.kinds, via);
        return result.version;
      }
      row = result.row;
      if (attempt >= 3) return this.storedCurrent(row);
    }
  }

  private storedCurrent(row: ComposeRow): AppointmentVersion {
    return toAppointmentVersion({
      APPOINTMENT_ID: row.APPOINTMENT_ID,
      VERSION_ID: row.CURRENT_VERSION,
      STATUS: row.STORED_STATUS,
      LAST_UPDATED_UTC: row.LAST_UPDATED_UTC,
      RESOURCE_JSON: row.RESOURCE_JSON,
      CURRENT_VERSION: row.CURRENT_VERSION,
    });
  }

  private async composeRow(s: PasSession, appointmentId: string): Promise<ComposeRow | undefined> {
    const [row] = await s.query<ComposeRow>(`SELECT ${composeSelect((t) => this.b(t))} WHERE f.APPOINTMENT_ID = @id`, { id: sqlp.key(appointmentId, 36) });
    return row && sameId(row, appointmentId) ? row : undefined;
  }

  /**
   * Moves CURRENT_VERSION on from `read` by one, only if it is still `read`. Returns the new
   * version; 0 when `mayLose` and another transaction moved it first (otherwise that rolls back).
   * Records the slot and the PAS patient the new version was composed for (kept when the legacy row is gone).
   */
  private async moveVersion(
    s: PasSession,
    appointmentId: string,
    read: number,
    status: string,
    slotId: number | null,
    patientId: number | null,
    lastUpdated: string,
    mayLose = false,
  ): Promise<number> {
    const next = read + 1;
    const moved = await s.execute(
      `UPDATE ${this.b('FHIR_APPOINTMENT')} SET CURRENT_VERSION = @next, STATUS = @status, SLOT_ID = COALESCE(@slot, SLOT_ID),
              PAS_PATIENT_ID = COALESCE(@patient, PAS_PATIENT_ID), LAST_UPDATED_UTC = @lastUpdated
        WHERE APPOINTMENT_ID = @id AND CURRENT_VERSION = @read`,
      {
        next: sqlp.int(next),
        status: sqlp.text(status),
        slot: sqlp.int(slotId),
        patient: sqlp.int(patientId),
        lastUpdated: sqlp.utc(lastUpdated),
        id: sqlp.key(appointmentId, 36),
        read: sqlp.int(read),
      },
    );
    if (moved === 1) return next;
    if (mayLose && moved === 0) return 0;
    throw new UnexpectedRowCount('moving the appointment to its next version', 1, moved);
  }

  // ---------------------------------------------------------------- shared pieces

  /**
   * Runs one write transaction. A duplicate key may mean a concurrent twin under the same
   * X-Request-ID committed first (REQUEST_LOG's primary key): answer with its result when one is
   * found. Any other duplicate stands as the error it is (no write of ours repeats a key it did not
   * check first: the hospital number is given only while no patient holds it).
   *
   * The deadline is checked inside the transaction: first, before any statement (the transaction
   * may begin long after the call, behind the connection's other work, the pool or a lock), and
   * again before COMMIT (the statements' lock waits); past it, everything rolls back.
   */
  private async write<T>(ctx: WriteContext & WriteDeadline, work: (s: PasSession) => Promise<TxOutcome<T>>): Promise<T | ReplayedWrite> {
    const { deadline, now = Date.now } = ctx;
    const late = () => deadline !== undefined && now() >= deadline;
    let tooLate = false;
    const guarded = async (s: PasSession): Promise<TxOutcome<T | undefined>> => {
      if (late()) {
        tooLate = true;
        return rollback(undefined);
      }
      const outcome = await work(s);
      if (outcome.commit && late()) {
        tooLate = true;
        return rollback(undefined);
      }
      return outcome;
    };
    try {
      const value = await this.db.transaction(guarded, deadline === undefined ? {} : { deadline, now });
      if (tooLate) throw new WriteDeadlinePassedError(deadline as number);
      return value as T;
    } catch (error) {
      if (this.db.isDuplicateKey(error)) {
        const twin = await this.db.read((s) => this.findReplay(s, ctx));
        if (twin) return twin;
      }
      throw error;
    }
  }

  private async findReplay(s: PasSession, ctx: WriteContext): Promise<ReplayedWrite | undefined> {
    const [earlier] = await s.query<RequestLogRow>(`SELECT JOB_ID, APPOINTMENT_ID, VERSION_ID FROM ${this.b('REQUEST_LOG')} WHERE REQUEST_ID = @request`, {
      request: sqlp.key(ctx.requestId, 100),
    });
    if (!earlier) return undefined;
    const version = await this.readVersion(s, earlier.APPOINTMENT_ID.trim(), String(earlier.VERSION_ID));
    return replayedWrite(earlier, ctx, version as AppointmentVersion);
  }

  private async readVersion(s: PasSession, appointmentId: string, versionId: string): Promise<AppointmentVersion | null> {
    if (!isVersionId(versionId)) return null;
    const [raw] = await s.query<RawVersion>(
      `SELECT ${VERSION_SELECT_COLUMNS}
         FROM ${this.b('FHIR_APPOINTMENT')} a
         JOIN ${this.b('FHIR_APPOINTMENT_VERSION')} v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID
        WHERE a.APPOINTMENT_ID = @id AND v.VERSION_ID = @version`,
      { id: sqlp.key(appointmentId, 36), version: sqlp.int(Number(versionId)) },
    );
    return raw ? toAppointmentVersion(raw) : null;
  }

  private async insertVersion(s: PasSession, appointmentId: string, versionId: number, status: string, lastUpdated: string, resource: Record<string, unknown>) {
    await exactly(
      s,
      1,
      'recording the version',
      `INSERT INTO ${this.b('FHIR_APPOINTMENT_VERSION')} (APPOINTMENT_ID, VERSION_ID, STATUS, LAST_UPDATED_UTC, RESOURCE_JSON)
       VALUES (@id, @version, @status, @lastUpdated, @json)`,
      { id: sqlp.text(appointmentId), version: sqlp.int(versionId), status: sqlp.text(status), lastUpdated: sqlp.utc(lastUpdated), json: sqlp.json(JSON.stringify(resource)) },
    );
  }

  private async insertRequest(s: PasSession, ctx: WriteContext, interaction: string, appointmentId: string, versionId: number) {
    await exactly(
      s,
      1,
      'recording the request id',
      `INSERT INTO ${this.b('REQUEST_LOG')} (REQUEST_ID, INTERACTION, JOB_ID, APPOINTMENT_ID, VERSION_ID, CREATED_UTC)
       VALUES (@request, @interaction, @job, @id, @version, @created)`,
      {
        request: sqlp.text(ctx.requestId),
        interaction: sqlp.text(interaction),
        job: sqlp.text(ctx.jobId),
        id: sqlp.text(appointmentId),
        version: sqlp.int(versionId),
        created: sqlp.utc(new Date().toISOString()),
      },
    );
  }
}

/**
 * The row is the appointment asked for, compared exactly: SQL Server's usual collation matches
 * APPOINTMENT_ID case-blind, so /Appointment/<ID IN CAPITALS> would find (and a cancel would write
 * versions under) an id we never issued, where SQLite finds nothing.
 */
function sameId(row: ComposeRow, appointmentId: string): boolean {
  return row.APPOINTMENT_ID.trim() === appointmentId;
}
