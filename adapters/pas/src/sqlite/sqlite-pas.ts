import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DEFAULT_STATUS_MAPPING } from '../appointment-status.js';
import { searchedSlotStatus } from '../booking-rules.js';
import { slotStatusCode } from '../legacy-codes.js';
import { LocalClock } from '../local-time.js';
import type { PasObserver, SlotQuery, SlotSearchResult } from '../port.js';
import { assembleSearch, CLINIC_SELECT, type RawClinic, type RawSlot, readableSlotRows, slotColumnsWithStatus, withinBounds } from '../row-mapping.js';
import { type PasAdapterOptions, RepositoryPas } from '../repository-pas.js';
import { legacyCode } from '../session.js';
import { SqliteDatabase } from './sqlite-db.js';

const SCHEMA_SQL = new URL('../../sql/sqlite-schema.sql', import.meta.url);

export interface SqlitePasOptions extends PasAdapterOptions {
  /** File path, or ':memory:' for tests that need no second process. */
  path: string;
  /** How long a writer waits for another process's lock before giving up (ms). */
  busyTimeoutMs?: number;
}

/** Creates the reference schema if it is missing (the demo PAS only; never run against a trust PAS). */
export function createSqliteSchema(db: Database.Database): void {
  db.exec(readFileSync(SCHEMA_SQL, 'utf8')); // CREATE … IF NOT EXISTS only: no write lock on a file that has them
  // The rows the schema needs, written only when missing: an INSERT takes the file's write lock even
  // when it inserts nothing, and a worker must start while a PAS screen, report or backup holds it.
  if (!db.prepare('SELECT 1 FROM booking_PATIENT_REGISTRATION WHERE LOCK_ID = 1').get()) {
    db.prepare('INSERT OR IGNORE INTO booking_PATIENT_REGISTRATION (LOCK_ID, LAST_REGISTERED_UTC) VALUES (1, NULL)').run();
  }
  // A file made before booking_FHIR_APPOINTMENT.PAS_PATIENT_ID existed gets it (ALTER only when missing).
  const columns = db.pragma('table_info(booking_FHIR_APPOINTMENT)') as { name: string }[];
  if (!columns.some((c) => c.name === 'PAS_PATIENT_ID')) db.exec('ALTER TABLE booking_FHIR_APPOINTMENT ADD COLUMN PAS_PATIENT_ID INTEGER NULL');
  if (!db.prepare(`SELECT 1 FROM sqlite_sequence WHERE name = 'CLINIC_SLOT'`).get()) {
    db.prepare(`INSERT INTO sqlite_sequence (name, seq) SELECT 'CLINIC_SLOT', 1000 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'CLINIC_SLOT')`).run();
  }
}

/**
 * The embedded demo PAS: the reference schema in one SQLite file, shared by every worker process.
 * Writes run in BEGIN IMMEDIATE transactions, so two processes never interleave inside one booking.
 * Every transaction is the shared PasRepository's; this class only opens the file and searches slots.
 */
export class SqlitePas extends RepositoryPas {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  private readonly clock: LocalClock;
  private readonly database: SqliteDatabase;
  private readonly observer: PasObserver | undefined;
  /** Appointment codes that no longer hold their slot (the status mapping's cancelled ones). */
  private readonly cancelledCodes: readonly string[];

  constructor(options: SqlitePasOptions) {
    const db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    createSqliteSchema(db);
    const clock = new LocalClock(options.timeZone);
    const database = new SqliteDatabase(db, busyTimeoutMs);
    super(database, clock, options);
    this.db = db;
    this.clock = clock;
    this.database = database;
    this.observer = options.observer;
    this.cancelledCodes = (options.statusMapping ?? DEFAULT_STATUS_MAPPING).cancelledCodes;
  }

  searchSlots(query: SlotQuery): Promise<SlotSearchResult> {
    // Through the connection's queue, so a search never reads inside another job's open transaction.
    return this.database.read(async () => {
      // The clinics the booking guard takes slots of (ACTIVE_FLAG as legacyCode reads it), and
      // DOS_SERVICE_ID blank-padded or not, as SQL Server's comparison reads it: an index range
      // (the id, then anything below '!') narrowed to trailing blanks by RTRIM.
      const serviceId = query.serviceId.trim();
      const clinics = this
        .prepare(
          `${CLINIC_SELECT} WHERE c.DOS_SERVICE_ID >= ? AND c.DOS_SERVICE_ID < ? AND RTRIM(c.DOS_SERVICE_ID) = ? AND ${legacyCode('c.ACTIVE_FLAG')} = 'Y'`,
        )
        .all(serviceId, `${serviceId}!`, serviceId) as RawClinic[];
      if (clinics.length === 0) return { serviceKnown: false, ...assembleSearch([], []) };

      // The status as the booking's guard sees it (booking-rules.ts); its first parameter is now.
      const columns = slotColumnsWithStatus(searchedSlotStatus('?', this.cancelledCodes));
      const params: unknown[] = [this.clock.nowLocal(), ...clinics.map((c) => c.CLINIC_CODE)];
      const where: string[] = [`s.CLINIC_CODE IN (${clinics.map(() => '?').join(',')})`];
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
      const statusFilter = query.statuses.length > 0 ? `WHERE SLOT_STATUS IN (${query.statuses.map(() => '?').join(',')})` : '';
      params.push(...query.statuses.map(slotStatusCode));
      // Rows in a widened hour are filtered out below, so fetch a margin beyond the limit.
      params.push(widened ? query.limit + 1000 : query.limit + 1);
      const raw = this
        .prepare(`SELECT * FROM (SELECT ${columns} FROM CLINIC_SLOT s WHERE ${where.join(' AND ')}) ${statusFilter} ORDER BY START_DTTM, SLOT_ID LIMIT ?`)
        .all(...params) as RawSlot[];
      const slots = readableSlotRows(raw, this.clock, this.observer)
        .filter((s) => withinBounds(s, query))
        .slice(0, query.limit);
      return { serviceKnown: true, ...assembleSearch(slots, clinics) };
    });
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
