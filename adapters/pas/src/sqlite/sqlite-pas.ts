import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { StatusMapping } from '../appointment-status.js';
import { slotStatusCode } from '../legacy-codes.js';
import { LocalClock } from '../local-time.js';
import type {
  AppointmentQuery,
  AppointmentVersion,
  BookCommand,
  BookResult,
  CancelCommand,
  CancelResult,
  PasObserver,
  PasPort,
  ReconcileQuery,
  ReconcileResult,
  ReplayedWrite,
  SlotQuery,
  SlotSearchResult,
  WriteContext,
} from '../port.js';
import { assembleSearch, CLINIC_SELECT, type RawClinic, type RawSlot, SLOT_COLUMNS, toSlotRow, withinBounds } from '../row-mapping.js';
import { type HospitalNumberFormat, PasRepository } from '../transactions/repository.js';
import { SqliteDatabase } from './sqlite-db.js';

const SCHEMA_SQL = new URL('../../sql/sqlite-schema.sql', import.meta.url);

export interface SqlitePasOptions {
  /** File path, or ':memory:' for tests that need no second process. */
  path: string;
  timeZone?: string;
  /** How long a writer waits for another process's lock before giving up (ms). */
  busyTimeoutMs?: number;
  /** Legacy APPT_STATUS codes → FHIR (default: the reference codes). */
  statusMapping?: StatusMapping;
  observer?: PasObserver;
  /** Temporary hospital number format (default T + 9 digits). */
  hospitalNumber?: HospitalNumberFormat;
  /** The identifier system of the hospital number on the contained Patient. */
  localPatientIdSystem?: string;
}

/** Creates the reference schema if it is missing (the demo PAS only; never run against a trust PAS). */
export function createSqliteSchema(db: Database.Database): void {
  db.exec(readFileSync(SCHEMA_SQL, 'utf8'));
}

/**
 * The embedded demo PAS: the reference schema in one SQLite file, shared by every worker process.
 * Writes run in BEGIN IMMEDIATE transactions, so two processes never interleave inside one booking.
 * Every transaction is the shared PasRepository's; this class only opens the file and searches slots.
 */
export class SqlitePas implements PasPort {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  private readonly clock: LocalClock;
  private readonly database: SqliteDatabase;
  private readonly repository: PasRepository;
  private readonly observer: PasObserver | undefined;

  constructor(options: SqlitePasOptions) {
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    createSqliteSchema(this.db);
    this.clock = new LocalClock(options.timeZone);
    this.database = new SqliteDatabase(this.db, busyTimeoutMs);
    this.observer = options.observer;
    this.repository = new PasRepository(this.database, {
      clock: this.clock,
      ...(options.statusMapping ? { statusMapping: options.statusMapping } : {}),
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.hospitalNumber ? { hospitalNumber: options.hospitalNumber } : {}),
      ...(options.localPatientIdSystem ? { localPatientIdSystem: options.localPatientIdSystem } : {}),
    });
  }

  searchSlots(query: SlotQuery): Promise<SlotSearchResult> {
    // Through the connection's queue, so a search never reads inside another job's open transaction.
    return this.database.read(async () => {
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
        .map((r) => toSlotRow(r, this.clock, (column, code) => this.observer?.unknownCode(column, code)))
        .filter((s) => withinBounds(s, query))
        .slice(0, query.limit);
      return { serviceKnown: true, ...assembleSearch(slots, clinics) };
    });
  }

  book(cmd: BookCommand): Promise<BookResult> {
    return this.repository.book(cmd);
  }

  searchAppointments(query: AppointmentQuery): Promise<AppointmentVersion[]> {
    return this.repository.searchAppointments(query);
  }

  readAppointment(appointmentId: string, versionId?: string): Promise<AppointmentVersion | null> {
    return this.repository.readAppointment(appointmentId, versionId);
  }

  cancel(cmd: CancelCommand): Promise<CancelResult> {
    return this.repository.cancel(cmd);
  }

  reconcile(query: ReconcileQuery): Promise<ReconcileResult> {
    return this.repository.reconcile(query);
  }

  findWrite(ctx: WriteContext): Promise<ReplayedWrite | null> {
    return this.repository.findWrite(ctx);
  }

  async ping(): Promise<void> {
    await this.database.read(async () => this.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    await this.database.close();
  }

  private prepare(sql: string): Database.Statement {
    return this.database.prepare(sql);
  }

  /** The connection's statement cache (the query-plan test empties it). */
  get statements(): Map<string, Database.Statement> {
    return this.database.statements;
  }
}
