import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoData, generateDemoData } from '../src/demo-data.js';
import { LocalClock } from '../src/local-time.js';
import { createMssqlSchema, loadDemoDataMssql, MssqlPas } from '../src/mssql/index.js';
import { openPasScreens, type PasScreens } from '../src/pas-screens.js';
import { type AppointmentVersion, type BookCommand, type CancelCommand, type PasChangeKind, type PasObserver, type PasPort, type PatientDetails, type SlotQuery, type SlotStatus, TransientPasError, WriteDeadlinePassedError } from '../src/port.js';
import { type PasDatabase, type PasSession, rollback, type TxOptions, type TxOutcome } from '../src/session.js';
import { loadDemoDataSqlite, SqlitePas } from '../src/sqlite/index.js';
import { SqliteDatabase } from '../src/sqlite/sqlite-db.js';
import { MssqlDatabase } from '../src/mssql/mssql-db.js';
import { DEFAULT_HOSPITAL_NUMBER, PasRepository, temporaryHospitalNumbers } from '../src/transactions/repository.js';

/**
 * The PAS adapter contract: one set of cases, run against every adapter, so the SQL Server PAS
 * behaves exactly like the SQLite reference. SQLite always runs (a temporary file per suite); SQL
 * Server runs when PAS_MSSQL_URL names a database it may wipe (schema created, demo data loaded).
 */

const TABLES = [
  'ORGANISATION',
  'SITE',
  'STAFF',
  'CLINIC',
  'CLINIC_SLOT',
  'PATIENT',
  'APPOINTMENT',
  'FHIR_APPOINTMENT',
  'FHIR_APPOINTMENT_VERSION',
  'REQUEST_LOG',
] as const;
type Table = (typeof TABLES)[number];
type Counts = Record<Table, number>;

/** A FHIR appointment's legacy rows: APPOINTMENT with its PATIENT and CLINIC_SLOT. */
interface LegacyRows {
  APPT_STATUS: string;
  SOURCE_CODE: string;
  REASON: string | null;
  SLOT_STATUS: string;
  HOSP_NO: string | null;
  NHS_NO: string | null;
  REG_TYPE: string;
  SURNAME: string;
  FORENAMES: string | null;
}

interface RequestLogRow {
  INTERACTION: string;
  JOB_ID: string;
  APPOINTMENT_ID: string;
  VERSION_ID: number;
}

/** An adapter under test, with the few direct reads the cases need to see what was written. */
interface PasUnderTest {
  pas: PasPort;
  counts(): Promise<Counts>;
  legacyRows(appointmentId: string): Promise<LegacyRows | undefined>;
  requestLog(requestId: string): Promise<RequestLogRow | undefined>;
  /** The PAS's own screens, on a connection of their own (a clerk's). */
  screens: PasScreens;
  /** Runs a statement straight against the PAS (what a screen the fixture lacks would do). */
  exec(sql: string): Promise<void>;
  /** Rows of a query straight against the PAS. */
  rows<T>(sql: string): Promise<T[]>;
  /** What the adapter reported to its observer. */
  observed: Observed;
  /** Another handle on the adapter's own database (same SQLite connection, same SQL Server pool). */
  database: PasDatabase;
  close(): Promise<void>;
}

/** The adapter's database as it is, but for what a subclass does to its transactions; closing it leaves the adapter's open. */
abstract class WrappedDatabase implements PasDatabase {
  constructor(protected readonly inner: PasDatabase) {}
  get dialect() {
    return this.inner.dialect;
  }
  abstract transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options?: TxOptions): Promise<T>;
  read<T>(work: (s: PasSession) => Promise<T>): Promise<T> {
    return this.inner.read(work);
  }
  isDuplicateKey(error: unknown) {
    return this.inner.isDuplicateKey(error);
  }
  close() {
    return Promise.resolve();
  }
}

/**
 * The adapter's database, whose next transaction lets a clerk's change in right after its read of
 * the appointment (the compose SELECT): what READ COMMITTED, with or without RCSI, lets a clerk
 * commit between two statements of a SQL Server transaction, since that SELECT keeps no lock. On
 * SQLite the clerk's statement runs on the transaction's own connection, so the write sees it.
 */
class ClerkBetweenReadAndWrite extends WrappedDatabase {
  constructor(
    inner: PasDatabase,
    private clerk: (() => Promise<void>) | undefined,
    /** The read the clerk's change comes right after (by default the compose SELECT). */
    private readonly after: (sql: string) => boolean = (sql) => sql.includes('LEFT JOIN APPOINTMENT p'),
    /** Or the write it comes right before (as a lock wait would let it commit first). */
    private readonly before: (sql: string) => boolean = () => false,
  ) {
    super(inner);
  }
  private async clerkAt(at: (sql: string) => boolean, sql: string) {
    const clerk = this.clerk;
    if (clerk && at(sql)) {
      this.clerk = undefined;
      await clerk();
    }
  }
  transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options?: TxOptions): Promise<T> {
    return this.inner.transaction((s) =>
      work({
        dialect: s.dialect,
        execute: async (sql, p) => {
          await this.clerkAt(this.before, sql);
          return s.execute(sql, p);
        },
        insertId: (sql, p) => s.insertId(sql, p),
        query: async <R,>(sql: string, p?: Parameters<PasSession['query']>[1]) => {
          const rows = await s.query<R>(sql, p);
          await this.clerkAt(this.after, sql);
          return rows;
        },
      }),
      options,
    );
  }
}

/**
 * The adapter's database, whose transactions begin only once `until` resolves: what a write
 * queued behind the connection's other work, the pool, or another session's lock lives through.
 */
class LateBegin extends WrappedDatabase {
  constructor(
    inner: PasDatabase,
    private readonly until: () => Promise<void>,
  ) {
    super(inner);
  }
  async transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options?: TxOptions): Promise<T> {
    await this.until();
    return this.inner.transaction(work, options);
  }
}

/** Resolves once the clock has moved past `deadline` (a wait, never a timing assertion). */
async function pastDeadline(deadline: number): Promise<void> {
  while (Date.now() <= deadline) await new Promise((r) => setTimeout(r, deadline - Date.now() + 1));
}

interface Observed {
  changes: { kinds: PasChangeKind[]; via: string }[];
  unknown: { column: string; code: string }[];
  unreadable: { table: string; id: string; reason: string }[];
}

function recordingObserver(): { observer: PasObserver; observed: Observed } {
  const observed: Observed = { changes: [], unknown: [], unreadable: [] };
  return {
    observed,
    observer: {
      pasChange: (kinds, via) => observed.changes.push({ kinds, via }),
      unknownCode: (column, code) => observed.unknown.push({ column, code }),
      unreadableRow: (table, id, reason) => observed.unreadable.push({ table, id, reason }),
    },
  };
}

/** Opens a fresh PAS holding exactly `data`. */
type OpenPas = (data: DemoData) => Promise<PasUnderTest>;

/**
 * Legacy PAS databases carry AFTER UPDATE triggers on their slot and appointment tables that
 * write an audit row; on SQL Server they often return a result set too (the audit row), which a
 * client that reads row counts or ids from the first result set misreads.
 */
const SQLITE_AUDIT = `
CREATE TABLE IF NOT EXISTS PAS_AUDIT (AUDIT_ID INTEGER PRIMARY KEY AUTOINCREMENT, TABLE_NAME VARCHAR(30) NOT NULL, ROW_ID INTEGER NOT NULL, NEW_STATUS CHAR(1) NULL);
CREATE TRIGGER IF NOT EXISTS TR_CLINIC_SLOT_AUDIT AFTER UPDATE ON CLINIC_SLOT
  BEGIN INSERT INTO PAS_AUDIT (TABLE_NAME, ROW_ID, NEW_STATUS) VALUES ('CLINIC_SLOT', NEW.SLOT_ID, NEW.SLOT_STATUS); END;
CREATE TRIGGER IF NOT EXISTS TR_APPOINTMENT_AUDIT AFTER UPDATE ON APPOINTMENT
  BEGIN INSERT INTO PAS_AUDIT (TABLE_NAME, ROW_ID, NEW_STATUS) VALUES ('APPOINTMENT', NEW.APPT_ID, NEW.APPT_STATUS); END;`;

const MSSQL_AUDIT = [
  `IF OBJECT_ID(N'dbo.PAS_AUDIT', N'U') IS NULL
   CREATE TABLE dbo.PAS_AUDIT (AUDIT_ID INT IDENTITY(1, 1) PRIMARY KEY, TABLE_NAME VARCHAR(30) NOT NULL, ROW_ID INT NOT NULL, NEW_STATUS CHAR(1) NULL)`,
  `IF OBJECT_ID(N'dbo.TR_CLINIC_SLOT_AUDIT', N'TR') IS NOT NULL DROP TRIGGER dbo.TR_CLINIC_SLOT_AUDIT`,
  `CREATE TRIGGER dbo.TR_CLINIC_SLOT_AUDIT ON dbo.CLINIC_SLOT AFTER UPDATE AS
   BEGIN
     INSERT INTO dbo.PAS_AUDIT (TABLE_NAME, ROW_ID, NEW_STATUS) SELECT 'CLINIC_SLOT', SLOT_ID, SLOT_STATUS FROM inserted;
     SELECT 0 AS CHANGED, 'audit' AS TRIGGER_SAYS;
   END`,
  `IF OBJECT_ID(N'dbo.TR_APPOINTMENT_AUDIT', N'TR') IS NOT NULL DROP TRIGGER dbo.TR_APPOINTMENT_AUDIT`,
  `CREATE TRIGGER dbo.TR_APPOINTMENT_AUDIT ON dbo.APPOINTMENT AFTER UPDATE AS
   BEGIN
     INSERT INTO dbo.PAS_AUDIT (TABLE_NAME, ROW_ID, NEW_STATUS) SELECT 'APPOINTMENT', APPT_ID, APPT_STATUS FROM inserted;
     SELECT 0 AS CHANGED, 0 AS APPT_ID, 'audit' AS TRIGGER_SAYS;
   END`,
  // The fault case: an appointment inserted with this reason holds its transaction open a while.
  `IF OBJECT_ID(N'dbo.TR_APPOINTMENT_FAULT', N'TR') IS NOT NULL DROP TRIGGER dbo.TR_APPOINTMENT_FAULT`,
  `CREATE TRIGGER dbo.TR_APPOINTMENT_FAULT ON dbo.APPOINTMENT AFTER INSERT AS
   BEGIN
     IF EXISTS (SELECT 1 FROM inserted WHERE REASON = 'FAULT: hold the transaction') WAITFOR DELAY '00:00:03';
   END`,
];

/** Plain enough for both dialects; `@id` parameters work in better-sqlite3 and mssql alike. */
const legacyRowsSql = (fhirAppointment: string) => `
  SELECT p.APPT_STATUS, p.SOURCE_CODE, p.REASON, s.SLOT_STATUS, pt.HOSP_NO, pt.NHS_NO, pt.REG_TYPE, pt.SURNAME, pt.FORENAMES
    FROM ${fhirAppointment} f
    JOIN APPOINTMENT p ON p.APPT_ID = f.PAS_APPT_ID
    JOIN PATIENT pt ON pt.PATIENT_ID = p.PATIENT_ID
    JOIN CLINIC_SLOT s ON s.SLOT_ID = p.SLOT_ID
   WHERE f.APPOINTMENT_ID = @id`;
const requestLogSql = (requestLog: string) => `SELECT INTERACTION, JOB_ID, APPOINTMENT_ID, VERSION_ID FROM ${requestLog} WHERE REQUEST_ID = @id`;

/** CHAR columns come back blank-padded from SQL Server. */
function trimmedRow<T>(row: unknown): T | undefined {
  if (!row) return undefined;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : v])) as T;
}

const openSqlite: OpenPas = async (data) => {
  const dir = mkdtempSync(join(tmpdir(), 'pas-contract-'));
  const { observer, observed } = recordingObserver();
  const pas = new SqlitePas({ path: join(dir, 'pas.db'), observer, localPatientIdSystem: LOCAL_SYSTEM });
  loadDemoDataSqlite(pas.db, data);
  pas.db.exec(SQLITE_AUDIT);
  const screens = await openPasScreens({ sqlitePath: join(dir, 'pas.db') });
  const table = (t: Table) => (['FHIR_APPOINTMENT', 'FHIR_APPOINTMENT_VERSION', 'REQUEST_LOG'].includes(t) ? `booking_${t}` : t);
  return {
    pas,
    counts: async () =>
      Object.fromEntries(TABLES.map((t) => [t, (pas.db.prepare(`SELECT COUNT(*) AS n FROM ${table(t)}`).get() as { n: number }).n])) as Counts,
    legacyRows: async (id) => trimmedRow(pas.db.prepare(legacyRowsSql('booking_FHIR_APPOINTMENT')).get({ id })),
    requestLog: async (id) => trimmedRow(pas.db.prepare(requestLogSql('booking_REQUEST_LOG')).get({ id })),
    screens,
    exec: async (sql) => {
      pas.db.exec(sql);
    },
    rows: async <T,>(sql: string) => pas.db.prepare(sql).all().map((r) => trimmedRow<T>(r) as T),
    observed,
    database: new SqliteDatabase(pas.db, 5000),
    close: async () => {
      await screens.close();
      await pas.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const openMssql =
  (connectionString: string): OpenPas =>
  async (data) => {
    const { observer, observed } = recordingObserver();
    const pas = await MssqlPas.connect({ connectionString, observer, localPatientIdSystem: LOCAL_SYSTEM, lockTimeoutMs: 2000 });
    await createMssqlSchema(pas.pool);
    await setReadCommittedSnapshot(pas);
    await loadDemoDataMssql(pas.pool, data);
    for (const batch of MSSQL_AUDIT) await pas.pool.request().batch(batch);
    const screens = await openPasScreens({ mssqlUrl: connectionString });
    const table = (t: Table) => (['FHIR_APPOINTMENT', 'FHIR_APPOINTMENT_VERSION', 'REQUEST_LOG'].includes(t) ? `booking.${t}` : t);
    const one = async <T,>(sql: string, id: string) => trimmedRow<T>((await pas.pool.request().input('id', id).query(sql)).recordset[0]);
    return {
      pas,
      counts: async () => {
        const counts: Partial<Counts> = {};
        for (const t of TABLES) counts[t] = (await pas.pool.request().query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table(t)}`)).recordset[0]?.n ?? 0;
        return counts as Counts;
      },
      legacyRows: (id) => one<LegacyRows>(legacyRowsSql('booking.FHIR_APPOINTMENT'), id),
      requestLog: (id) => one<RequestLogRow>(requestLogSql('booking.REQUEST_LOG'), id),
      screens,
      exec: async (sql) => {
        await pas.pool.request().batch(sql);
      },
      rows: async <T,>(sql: string) => (await pas.pool.request().query(sql)).recordset.map((r) => trimmedRow<T>(r) as T),
      observed,
      database: new MssqlDatabase(pas.pool, 2000),
      close: async () => {
        await screens.close();
        await pas.close();
      },
    };
  };

/**
 * PAS_MSSQL_RCSI=on|off sets READ_COMMITTED_SNAPSHOT on the test database first (Azure SQL's
 * default is on, a boxed SQL Server's off), so the suite can prove the guards under both.
 */
async function setReadCommittedSnapshot(pas: MssqlPas): Promise<void> {
  const wanted = process.env.PAS_MSSQL_RCSI?.toLowerCase();
  if (!wanted) return;
  if (wanted !== 'on' && wanted !== 'off') throw new Error('PAS_MSSQL_RCSI must be on or off');
  const db = (await pas.pool.request().query<{ NAME: string }>('SELECT DB_NAME() AS NAME')).recordset[0]?.NAME as string;
  await pas.pool.request().batch(`ALTER DATABASE [${db.replace(/]/g, ']]')}] SET READ_COMMITTED_SNAPSHOT ${wanted.toUpperCase()} WITH ROLLBACK IMMEDIATE`);
}

// ---------------------------------------------------------------------------------------------
// Test data: the demo data set, plus a clinic on the autumn clock-change night and an inactive one.

const clock = new LocalClock('Europe/London');
const CLOCK_CHANGE_SERVICE = '999999990';
const INACTIVE_SERVICE = '999999991';
const PAST_SERVICE = '999999989';
const PADDED_SERVICE = '999999988';
const LOCAL_SYSTEM = 'https://example.org/local';

/** The last Sunday of October after `from`, when Europe/London goes back from 02:00 BST to 01:00 GMT. */
function autumnClockChangeDay(from: DateTime): DateTime {
  for (let day = from.startOf('day'); ; day = day.plus({ days: 1 })) {
    if (day.set({ hour: 0 }).offset !== day.set({ hour: 3 }).offset && day.month === 10) return day;
  }
}
const CHANGE_DAY = autumnClockChangeDay(DateTime.now().setZone(clock.zone).plus({ months: 1 }));

function contractData(): DemoData {
  const data = generateDemoData({ timeZone: clock.zone });
  const clinic = (code: string, serviceId: string, active: 'Y' | 'N') => ({
    CLINIC_CODE: code,
    CLINIC_NAME: `Contract clinic ${code}`,
    DOS_SERVICE_ID: serviceId,
    SERVICE_NAME: `Contract service ${serviceId}`,
    SITE_CODE: null,
    ORG_CODE: 'RDM010',
    STAFF_CODE: null,
    ACTIVE_FLAG: active,
  });
  data.clinics.push(
    clinic('DSTCL001', CLOCK_CHANGE_SERVICE, 'Y'),
    clinic('INACTV01', INACTIVE_SERVICE, 'N'),
    { ...clinic('NODOS001', '', 'Y'), DOS_SERVICE_ID: null },
    clinic('PASTCL01', PAST_SERVICE, 'Y'),
    // Typed on the PAS screens: a lower-case flag, a blank-padded directory id (the booking reads both).
    { ...clinic('PADDED01', `${PADDED_SERVICE}  `, 'Y'), ACTIVE_FLAG: 'y' },
  );
  // Every 15 minutes from 00:00 to 03:45 local: 01:00–01:59 happens twice that night.
  for (let i = 0; i < 16; i++) {
    const start = CHANGE_DAY.set({ hour: Math.floor(i / 4), minute: (i % 4) * 15 });
    data.slots.push({
      CLINIC_CODE: 'DSTCL001',
      SLOT_GUID: randomUUID(),
      START_DTTM: start.toFormat('yyyy-MM-dd HH:mm:ss'),
      END_DTTM: start.plus({ minutes: 15 }).toFormat('yyyy-MM-dd HH:mm:ss'),
      SLOT_STATUS: 'F',
      CONTACT_TYPE: null,
    });
  }
  const last = data.slots.at(-1) as DemoData['slots'][number];
  data.slots.push({ ...last, CLINIC_CODE: 'INACTV01', SLOT_GUID: randomUUID() }, { ...last, CLINIC_CODE: 'NODOS001', SLOT_GUID: randomUUID() });
  const tomorrow = DateTime.now().setZone(clock.zone).plus({ days: 1 }).set({ hour: 9, minute: 0, second: 0, millisecond: 0 });
  data.slots.push({
    CLINIC_CODE: 'PADDED01',
    SLOT_GUID: randomUUID(),
    START_DTTM: tomorrow.toFormat('yyyy-MM-dd HH:mm:ss'),
    END_DTTM: tomorrow.plus({ minutes: 15 }).toFormat('yyyy-MM-dd HH:mm:ss'),
    SLOT_STATUS: 'F',
    CONTACT_TYPE: null,
  });
  // A free slot that started an hour ago.
  const past = DateTime.now().setZone(clock.zone).minus({ hours: 1 }).startOf('minute');
  data.slots.push({
    CLINIC_CODE: 'PASTCL01',
    SLOT_GUID: randomUUID(),
    START_DTTM: past.toFormat('yyyy-MM-dd HH:mm:ss'),
    END_DTTM: past.plus({ minutes: 15 }).toFormat('yyyy-MM-dd HH:mm:ss'),
    SLOT_STATUS: 'F',
    CONTACT_TYPE: null,
  });
  return data;
}

interface DemoSlot {
  serviceId: string;
  clinicCode: string;
  guid: string;
  local: string;
  start: string;
  end: string;
  status: string;
}

function slotsOf(data: DemoData, clinicCode: string): DemoSlot[] {
  const serviceId = data.clinics.find((c) => c.CLINIC_CODE === clinicCode)?.DOS_SERVICE_ID as string;
  return data.slots
    .filter((s) => s.CLINIC_CODE === clinicCode)
    .map((s) => ({ serviceId, clinicCode, guid: s.SLOT_GUID, local: s.START_DTTM.slice(11, 16), start: clock.toInstant(s.START_DTTM), end: clock.toInstant(s.END_DTTM), status: s.SLOT_STATUS }));
}

function patient(nhsNumber?: string): PatientDetails {
  return {
    ...(nhsNumber ? { nhsNumber, nhsNumberStatus: '01' } : {}),
    title: 'Ms',
    given: 'Zoë',
    family: 'Example',
    gender: 'female',
    birthDate: '1980-02-29',
    addressLines: ['1 Test Street', 'Leeds'],
    postalCode: 'LS1 4AP',
    phone: '0113 496 0000',
  };
}

const randomNhsNumber = () => String(Math.floor(Math.random() * 9e9) + 1e9);

/** What buildResource produced, per appointment id, and the local patient number it was given. */
const built = new Map<string, { localNumber: string; resource: Record<string, unknown> }>();

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const NHS_VERIFIED = {
  url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-NHSNumberVerificationStatus-1',
  valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1', code: '01', display: 'Number present and verified' }] },
};

function bookCommand(slot: { guid?: string; id?: string; start: string; end: string; clinicCode?: string }, overrides: Partial<BookCommand> = {}): BookCommand {
  const appointmentId = randomUUID();
  const lastUpdated = new Date().toISOString();
  const details = overrides.patient ?? patient();
  return {
    requestId: randomUUID(),
    jobId: `job-${randomUUID()}`,
    appointmentId,
    ...(slot.guid ? { slotGuid: slot.guid } : {}),
    ...(slot.id ? { slotId: slot.id } : {}),
    start: slot.start,
    end: slot.end,
    reason: 'Minor injury – “sprained” ankle',
    patient: patient(),
    lastUpdated,
    buildResource(localNumber) {
      // Everything JSON can carry, so any rewrite of the stored text shows.
      const resource = {
        resourceType: 'Appointment',
        id: appointmentId,
        meta: { versionId: '1', lastUpdated },
        status: 'booked',
        start: slot.start,
        end: slot.end,
        created: lastUpdated,
        description: 'Zoë’s “follow-up” — 😀 <b>&amp;</b> \\ "quoted" \u2028 \t',
        minutesDuration: 15,
        priority: 0,
        flag: true,
        nothing: null,
        contained: [
          // As production stores it (bookedAppointment): the consumer's NHS number when sent, else the hospital number.
          {
            resourceType: 'Patient',
            id: 'P1',
            identifier: [details.nhsNumber ? { extension: [NHS_VERIFIED], system: NHS_SYSTEM, value: details.nhsNumber } : { system: LOCAL_SYSTEM, value: localNumber }],
            name: [{ use: 'official', family: details.family, given: [details.given] }],
            gender: details.gender,
            birthDate: details.birthDate,
          },
          ...(slot.id ? [{ resourceType: 'Slot', id: slot.id, identifier: [{ system: 'https://example.org/slot', value: slot.guid ?? '' }], start: slot.start, end: slot.end, schedule: { reference: `Schedule/${slot.clinicCode ?? 'X'}` } }] : []),
        ],
        participant: [
          {
            actor: { reference: '#P1', ...(details.nhsNumber ? { identifier: { system: NHS_SYSTEM, value: details.nhsNumber } } : {}), display: `${details.given} ${details.family}` },
            status: 'accepted',
          },
        ],
      };
      built.set(appointmentId, { localNumber, resource });
      return resource;
    },
    ...overrides,
  };
}

function cancelCommand(version: AppointmentVersion, expectedVersionId = version.versionId, overrides: Partial<CancelCommand> = {}): CancelCommand {
  const lastUpdated = new Date().toISOString();
  const next = String(Number(version.versionId) + 1);
  return {
    requestId: randomUUID(),
    jobId: `job-${randomUUID()}`,
    appointmentId: version.appointmentId,
    expectedVersionId,
    lastUpdated,
    resource: { ...version.resource, status: 'cancelled', meta: { versionId: next, lastUpdated } },
    ...overrides,
  };
}

const json = (value: unknown) => JSON.stringify(value);

// ---------------------------------------------------------------------------------------------

export function describePasContract(name: string, open: OpenPas): void {
  describe(`PAS contract: ${name}`, () => {
    const data = contractData();
    const DEMO01 = slotsOf(data, 'DEMOCL01'); // service 999999999, 160 free slots
    const DEMO05 = slotsOf(data, 'DEMOCL05'); // service 999999993, busy and tentative slots too
    const DST = slotsOf(data, 'DSTCL001');
    // Slots the booking cases take, one or more each, never shared (the search cases read DEMO01's first day).
    const free = [...slotsOf(data, 'DEMOCL04'), ...DEMO01.slice(80)].filter((s) => s.status === 'F');
    const takeSlot = (): DemoSlot => {
      const slot = free.shift();
      if (!slot) throw new Error('the contract cases ran out of free slots');
      return slot;
    };

    let subject: PasUnderTest;
    let pas: PasPort;
    beforeAll(async () => {
      subject = await open(data);
      pas = subject.pas;
    });
    afterAll(async () => {
      await subject?.close();
    });

    const search = (query: Partial<SlotQuery> & { serviceId: string }) => pas.searchSlots({ statuses: [], limit: 500, ...query });
    /** The slot as the PAS reports it now (status, logical id). */
    const slotRow = async (slot: DemoSlot) => {
      const result = await search({ serviceId: slot.serviceId, startFrom: { instant: slot.start, inclusive: true }, startTo: { instant: slot.start, inclusive: true } });
      return result.slots.find((s) => s.slotGuid === slot.guid);
    };
    const book = async (slot = takeSlot(), overrides: Partial<BookCommand> = {}) => {
      const cmd = bookCommand(slot, overrides);
      const result = await pas.book(cmd);
      if (result.outcome !== 'booked') throw new Error(`expected a booking, got ${json(result)}`);
      return { cmd, slot, version: result.version };
    };

    describe('checkSchema (run at the worker start)', () => {
      it('finds nothing lacking in the schema the install scripts make', async () => {
        expect(await pas.checkSchema()).toEqual([]);
      });

      it('names a product column the schema script was not re-run to add, for each access, and leaves the connections usable', async () => {
        const table = subject.database.dialect.booking('FHIR_APPOINTMENT');
        await subject.exec(`ALTER TABLE ${table} DROP COLUMN PAS_PATIENT_ID`);
        try {
          const lacking = await pas.checkSchema();
          // SQLite has no grants, so its write probes are not run (schema-probe.ts). Any case:
          // Babelfish reports names lower-cased (column "pas_patient_id" does not exist).
          const accesses = subject.database.dialect.name === 'mssql' ? ['read', 'insert', 'update'] : ['read'];
          expect(lacking).toEqual(accesses.map((access) => expect.stringMatching(new RegExp(`^${table.replace('.', '\\.')} \\(${access}\\): .*PAS_PATIENT_ID`, 'i'))));
        } finally {
          await subject.exec(subject.database.dialect.name === 'mssql' ? `ALTER TABLE ${table} ADD PAS_PATIENT_ID INT NULL` : `ALTER TABLE ${table} ADD COLUMN PAS_PATIENT_ID INTEGER NULL`);
        }
        expect(await pas.checkSchema()).toEqual([]);
      });
    });

    describe('searchSlots', () => {
      it('finds a service whose clinic has a lower-case active flag and a blank-padded directory id, as the booking does', async () => {
        const [slot] = slotsOf(data, 'PADDED01');
        const found = await search({ serviceId: PADDED_SERVICE, statuses: ['free'] });
        expect(found.serviceKnown).toBe(true);
        expect(found.slots.map((s) => [s.slotGuid, s.scheduleId, s.status])).toEqual([[slot?.guid, 'PADDED01', 'free']]);
        expect(found.services.map((s) => s.serviceId)).toEqual([PADDED_SERVICE]);
        const booked = await pas.book(bookCommand({ guid: slot?.guid as string, start: slot?.start as string, end: slot?.end as string }));
        expect(booked.outcome).toBe('booked');
        expect((await search({ serviceId: PADDED_SERVICE, statuses: ['free'] })).slots).toEqual([]);
      });

      it("returns only the service's slots inside the UTC window, honouring exclusive and inclusive bounds", async () => {
        const exclusiveFrom = await search({ serviceId: '999999999', startFrom: { instant: DEMO01[2]!.start, inclusive: false }, startTo: { instant: DEMO01[6]!.start, inclusive: true } });
        expect(exclusiveFrom.serviceKnown).toBe(true);
        // Other services have slots at exactly these times; none may appear.
        expect(exclusiveFrom.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(3, 7).map((s) => s.guid));

        const exclusiveTo = await search({ serviceId: '999999999', startFrom: { instant: DEMO01[2]!.start, inclusive: true }, startTo: { instant: DEMO01[6]!.start, inclusive: false } });
        expect(exclusiveTo.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(2, 6).map((s) => s.guid));

        // Local wall-clock rows come back as the right UTC instants, with codes translated.
        const [first, second, third] = exclusiveFrom.slots;
        expect(first).toEqual({ slotId: expect.stringMatching(/^\d+$/), slotGuid: DEMO01[3]!.guid, scheduleId: 'DEMOCL01', start: DEMO01[3]!.start, end: DEMO01[3]!.end, status: 'free', deliveryChannel: 'In-person' });
        expect(second?.deliveryChannel).toBe('Telephone');
        expect(third).not.toHaveProperty('deliveryChannel');
      });

      it('treats several statuses as alternatives (OR), and filters on each', async () => {
        const busyOrTentative = await search({ serviceId: '999999993', statuses: ['busy', 'busy-tentative'] });
        expect(busyOrTentative.slots.map((s) => s.slotGuid)).toEqual(DEMO05.filter((s) => s.status !== 'F').map((s) => s.guid));
        expect(busyOrTentative.slots).toHaveLength(10);
        expect(new Set(busyOrTentative.slots.map((s) => s.status))).toEqual(new Set<SlotStatus>(['busy', 'busy-tentative']));

        const busy = await search({ serviceId: '999999993', statuses: ['busy'] });
        expect(busy.slots.map((s) => s.slotGuid)).toEqual(DEMO05.filter((s) => s.status === 'B').map((s) => s.guid));
        const freeOnly = await search({ serviceId: '999999993', statuses: ['free'] });
        expect(freeOnly.slots).toHaveLength(30);
        const none = await search({ serviceId: '999999993', statuses: ['entered-in-error'] });
        expect(none.slots).toEqual([]);
      });

      it('honours the limit, keeping the earliest slots', async () => {
        const five = await search({ serviceId: '999999999', limit: 5 });
        expect(five.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(0, 5).map((s) => s.guid));
        const one = await search({ serviceId: '999999999', limit: 1, startFrom: { instant: DEMO01[10]!.start, inclusive: true } });
        expect(one.slots.map((s) => s.slotGuid)).toEqual([DEMO01[10]!.guid]);
      });

      it('returns every resource the slots point at, each once and trimmed of legacy padding', async () => {
        const result = await search({ serviceId: '999999999', limit: 40 });
        expect(result.slots).toHaveLength(40);
        expect(result.schedules).toEqual([
          { scheduleId: 'DEMOCL01', name: 'Demo Urgent Treatment Centre Clinic', serviceId: '999999999', practitionerId: 'DEMO0001', practitionerRoleId: 'R80001000000', locationId: 'RDM10' },
        ]);
        expect(result.services).toEqual([{ serviceId: '999999999', name: 'Demo Urgent Treatment Centre', organizationId: 'RDM010', locationId: 'RDM10' }]);
        expect(result.practitioners).toEqual([
          { practitionerId: 'DEMO0001', title: 'Dr', given: 'Alex', family: 'Demo1', sdsUserId: '900000000001', sdsRoleProfileId: 'R80001000000' },
        ]);
        expect(result.practitionerRoles).toEqual([
          { roleId: 'R80001000000', practitionerId: 'DEMO0001', organizationId: 'RDM010', jobRoleCode: 'R0260', jobRoleName: 'General Medical Practitioner' },
        ]);
        expect(result.locations).toEqual([
          { locationId: 'RDM10', name: 'Demo Urgent Treatment Centre Site', organizationId: 'RDM010', phone: '0300 000 1001', address: { lines: ['1 Clinic Street'], city: 'Leeds', postalCode: 'LS2 9JT' } },
        ]);
        expect(result.organizations).toEqual([
          { organizationId: 'RDM010', name: 'Demo Trust 1', phone: '0300 000 0001', address: { lines: ['1 Demo Road'], city: 'Leeds', postalCode: 'LS1 4AP' } },
        ]);
      });

      it('answers free only for slots the booking would take (§8.1): a started one is busy-unavailable, one a live appointment holds is busy', async () => {
        // PASTCL01's only slot is 'F' in the PAS and started an hour ago: the booking refuses it.
        const [started] = slotsOf(data, 'PASTCL01');
        expect((await search({ serviceId: PAST_SERVICE, statuses: ['free'] })).slots).toEqual([]);
        expect((await search({ serviceId: PAST_SERVICE, statuses: ['free'], startFrom: { instant: DateTime.now().startOf('day').toUTC().toISO() as string, inclusive: true } })).slots).toEqual([]);
        const all = await search({ serviceId: PAST_SERVICE });
        expect(all.slots.map((s) => [s.slotGuid, s.status])).toEqual([[started!.guid, 'busy-unavailable']]);
        expect((await search({ serviceId: PAST_SERVICE, statuses: ['busy-unavailable'] })).slots.map((s) => s.slotGuid)).toEqual([started!.guid]);

        // 'F' on the slot row, yet a live legacy appointment holds it (a clerk's screen left it so).
        await book(); // a patient for that appointment
        const held = takeSlot();
        const heldId = Number((await slotRow(held))?.slotId);
        await subject.exec(
          `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
           SELECT ${heldId}, MIN(PATIENT_ID), 'B', '${clock.toLocal(held.start)}', '${clock.toLocal(held.end)}', 'held', 'PAS', '${clock.toLocal(held.start)}' FROM PATIENT`,
        );
        const at = (statuses: SlotStatus[]) =>
          search({ serviceId: held.serviceId, statuses, startFrom: { instant: held.start, inclusive: true }, startTo: { instant: held.start, inclusive: true } }).then((r) =>
            r.slots.filter((s) => s.slotGuid === held.guid).map((s) => s.status),
          );
        expect(await at(['free'])).toEqual([]);
        expect(await at(['busy'])).toEqual(['busy']);
        expect(await at([])).toEqual(['busy']);
        expect(await pas.book(bookCommand(held))).toEqual({ outcome: 'slot-unavailable' });
        // Once that appointment is cancelled in the PAS, the slot is free and bookable again.
        await subject.exec(`UPDATE APPOINTMENT SET APPT_STATUS = 'C' WHERE SLOT_ID = ${heldId}`);
        expect(await at(['free'])).toEqual(['free']);
        expect(await pas.book(bookCommand(held))).toMatchObject({ outcome: 'booked' });
      });

      it('reports an unknown service (or one whose only clinic is inactive) as not known', async () => {
        for (const serviceId of ['123456789', INACTIVE_SERVICE, "999999999' OR '1'='1"]) {
          const result = await search({ serviceId });
          expect(result.serviceKnown, serviceId).toBe(false);
          expect(result.slots).toEqual([]);
        }
      });

      it('answers a known service without slots with an empty, known result', async () => {
        const result = await search({ serviceId: '999999998' });
        expect(result).toEqual({ serviceKnown: true, slots: [], schedules: [], services: [], practitioners: [], practitionerRoles: [], locations: [], organizations: [] });
      });

      it('finds slots on the autumn clock-change night by their UTC instants', async () => {
        const byWindow = async (from: string, to: string) =>
          (await search({ serviceId: CLOCK_CHANGE_SERVICE, startFrom: { instant: from, inclusive: true }, startTo: { instant: to, inclusive: false } })).slots.map((s) => s.slotGuid);
        const day = CHANGE_DAY.toISODate() as string;
        const previous = CHANGE_DAY.minus({ days: 1 }).toISODate() as string;

        // The whole night: all sixteen, once each, in order of their UTC start.
        const all = await byWindow(`${previous}T12:00:00Z`, `${day}T12:00:00Z`);
        expect(all).toEqual([...DST].sort((a, b) => a.start.localeCompare(b.start)).map((s) => s.guid));
        // 23:00–00:00 UTC is 00:00–00:59 BST: the four slots before the repeated hour.
        expect(await byWindow(`${previous}T23:00:00Z`, `${day}T00:00:00Z`)).toEqual(DST.filter((s) => s.local < '01:00').map((s) => s.guid));
        // 00:00–02:00 UTC holds the repeated hour 01:00–01:59, however it was read, and nothing else.
        const repeated = await byWindow(`${day}T00:00:00Z`, `${day}T02:00:00Z`);
        expect(repeated).toEqual(DST.filter((s) => s.local >= '01:00' && s.local < '02:00').map((s) => s.guid));
        // A window inside the repeated hour: its local bounds cross (01:30 BST comes before 01:30 GMT),
        // so only a look-up widened around the change finds what lies in it.
        const inside = DST.filter((s) => s.start >= `${day}T00:30:00.000Z` && s.start < `${day}T01:30:00.000Z`);
        expect(inside.length).toBeGreaterThan(0);
        expect(await byWindow(`${day}T00:30:00Z`, `${day}T01:30:00Z`)).toEqual(inside.map((s) => s.guid));
        // After the change, 02:00 local is 02:00 UTC.
        expect(await byWindow(`${day}T02:00:00Z`, `${day}T03:00:00Z`)).toEqual(DST.filter((s) => s.local >= '02:00' && s.local < '03:00').map((s) => s.guid));
      });
    });

    describe('book', () => {
      it('books a free slot: version 1 stored exactly as built, and the slot is busy', async () => {
        const slot = takeSlot();
        // GUIDs are matched whatever their case; the PAS reports them lower case.
        const cmd = bookCommand({ ...slot, guid: slot.guid.toUpperCase() });
        const result = await pas.book(cmd);
        expect(result).toEqual({
          outcome: 'booked',
          version: { appointmentId: cmd.appointmentId, versionId: '1', lastUpdated: cmd.lastUpdated, status: 'booked', current: true, resource: built.get(cmd.appointmentId)?.resource },
        });
        const stored = await pas.readAppointment(cmd.appointmentId);
        expect(json(stored?.resource)).toBe(json(built.get(cmd.appointmentId)?.resource));
        expect(await pas.readAppointment(cmd.appointmentId, '1')).toEqual(stored);
        expect(await slotRow(slot)).toMatchObject({ slotGuid: slot.guid, status: 'busy' });
        // An Appointment id is exactly what was issued, whatever the database's collation (SQL Server's usual one ignores case).
        expect(await pas.readAppointment(cmd.appointmentId.toUpperCase())).toBeNull();
        expect(await pas.searchAppointments({ appointmentId: cmd.appointmentId.toUpperCase(), limit: 10, endedBefore: new Date().toISOString() })).toEqual([]);
      });

      it('writes the request log, legacy appointment and version together', async () => {
        const before = await subject.counts();
        const { cmd } = await book();
        const after = await subject.counts();
        expect(delta(before, after)).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
        expect(await subject.requestLog(cmd.requestId)).toEqual({ INTERACTION: 'book', JOB_ID: cmd.jobId, APPOINTMENT_ID: cmd.appointmentId, VERSION_ID: 1 });
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'B', SOURCE_CODE: 'NHSB', REASON: cmd.reason, SLOT_STATUS: 'B' });
      });

      it('refuses a slot that is not free, writing nothing', async () => {
        const { slot } = await book();
        const before = await subject.counts();
        expect(await pas.book(bookCommand(slot))).toEqual({ outcome: 'slot-unavailable' });
        for (const status of ['B', 'T']) {
          const legacy = DEMO05.find((s) => s.status === status) as DemoSlot;
          expect(await pas.book(bookCommand(legacy)), status).toEqual({ outcome: 'slot-unavailable' });
        }
        expect(await subject.counts()).toEqual(before);
      });

      it('answers slot-not-found for a slot the PAS does not have', async () => {
        const before = await subject.counts();
        const times = DEMO01[100]!;
        expect(await pas.book(bookCommand({ ...times, guid: randomUUID() }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ start: times.start, end: times.end, id: '99999999' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ start: times.start, end: times.end, id: '12abc' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ ...times, guid: 'not-a-guid' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await subject.counts()).toEqual(before);
      });

      it('answers slot-mismatch when the identifier or the times do not match the slot', async () => {
        const slot = takeSlot();
        const row = await slotRow(slot);
        expect(row).toBeDefined();
        const before = await subject.counts();
        const wrongGuid = await pas.book(bookCommand({ ...slot, guid: randomUUID(), id: row?.slotId }));
        expect(wrongGuid).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/identifier/) });
        const early = new Date(Date.parse(slot.start) - 5 * 60_000).toISOString();
        expect(await pas.book(bookCommand({ ...slot, start: early }))).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/within the slot/) });
        const late = new Date(Date.parse(slot.end) + 60_000).toISOString();
        expect(await pas.book(bookCommand({ ...slot, end: late }))).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/within the slot/) });
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
      });

      it('replays a request id: sameJob for the same job, not for another, writing nothing again', async () => {
        const { cmd, version } = await book();
        const before = await subject.counts();
        // Even a retry naming another slot answers with the original booking.
        const other = takeSlot();
        const again = await pas.book(bookCommand(other, { requestId: cmd.requestId, jobId: cmd.jobId }));
        expect(again).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: cmd.appointmentId, version });
        const elsewhere = await pas.book(bookCommand(other, { requestId: cmd.requestId }));
        expect(elsewhere).toEqual({ outcome: 'replayed', sameJob: false, appointmentId: cmd.appointmentId, version });
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(other)).toMatchObject({ status: 'free' });

        expect(await pas.findWrite({ requestId: cmd.requestId, jobId: cmd.jobId })).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: cmd.appointmentId, version });
        expect(await pas.findWrite({ requestId: randomUUID(), jobId: cmd.jobId })).toBeNull();
      });

      it('registers a patient without an NHS number under a temporary hospital number', async () => {
        const { cmd } = await book();
        const localNumber = built.get(cmd.appointmentId)?.localNumber;
        expect(localNumber).toMatch(/^T\d{9}$/);
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ HOSP_NO: localNumber, REG_TYPE: 'T', NHS_NO: null, SURNAME: 'Example', FORENAMES: 'Zoë' });
      });

      it("gives a new patient a temporary hospital number the trust's own records do not already hold", async () => {
        // The trust already uses T-numbers (an older install, its own series): the next ten
        // patient ids' numbers are taken by patients registered on its screens.
        const now = pas.kind === 'mssql' ? 'CONVERT(DATETIME, \'2020-01-01 00:00:00\', 120)' : "'2020-01-01 00:00:00'";
        for (let i = 0; i < 10; i++) {
          await subject.exec(`INSERT INTO PATIENT (SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM) VALUES ('TRUSTOWN', 'U', ${now}, 'P', ${now})`);
        }
        const own = (await subject.rows<{ PATIENT_ID: number }>(`SELECT PATIENT_ID FROM PATIENT WHERE SURNAME = 'TRUSTOWN' AND HOSP_NO IS NULL ORDER BY PATIENT_ID`)).map((r) => Number(r.PATIENT_ID));
        const last = Math.max(...own);
        const taken = own.map((_, i) => `T${String(last + 1 + i).padStart(9, '0')}`);
        for (const [i, id] of own.entries()) await subject.exec(`UPDATE PATIENT SET HOSP_NO = '${taken[i]}' WHERE PATIENT_ID = ${id}`);

        const numbers: string[] = [];
        for (let i = 0; i < 3; i++) {
          const { cmd } = await book();
          const localNumber = built.get(cmd.appointmentId)?.localNumber as string;
          expect(localNumber).toMatch(/^T\d{9}$/);
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ HOSP_NO: localNumber, REG_TYPE: 'T', SURNAME: 'Example' });
          numbers.push(localNumber);
        }
        expect(new Set(numbers).size).toBe(3);
        expect(numbers.filter((n) => taken.includes(n))).toEqual([]);
      });

      it('fails a booking with a clear error, writing nothing, when every number a new patient could be given is held', async () => {
        const now = pas.kind === 'mssql' ? 'CONVERT(DATETIME, \'2020-01-01 00:00:00\', 120)' : "'2020-01-01 00:00:00'";
        for (let i = 0; i < 10; i++) {
          await subject.exec(`INSERT INTO PATIENT (SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM) VALUES ('TRUSTFULL', 'U', ${now}, 'P', ${now})`);
        }
        const own = (await subject.rows<{ PATIENT_ID: number }>(`SELECT PATIENT_ID FROM PATIENT WHERE SURNAME = 'TRUSTFULL' ORDER BY PATIENT_ID`)).map((r) => Number(r.PATIENT_ID));
        const offered = temporaryHospitalNumbers(DEFAULT_HOSPITAL_NUMBER, Math.max(...own) + 1);
        for (const [i, id] of own.entries()) await subject.exec(`UPDATE PATIENT SET HOSP_NO = '${offered[i]}' WHERE PATIENT_ID = ${id}`);
        const before = await subject.counts();
        const slot = takeSlot();
        await expect(pas.book(bookCommand(slot))).rejects.toThrow(/no free temporary hospital number .* PAS_TEMP_HOSPITAL_NUMBER_PREFIX/);
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
        // The trust's numbers go elsewhere: bookings work again.
        await subject.exec(`UPDATE PATIENT SET HOSP_NO = NULL WHERE SURNAME = 'TRUSTFULL'`);
        expect((await pas.book(bookCommand(slot))).outcome).toBe('booked');
      });

      it('finds a patient again by NHS number instead of registering them twice', async () => {
        const nhsNumber = randomNhsNumber();
        const first = await book(takeSlot(), { patient: patient(nhsNumber) });
        const before = await subject.counts();
        const second = await book(takeSlot(), { patient: patient(nhsNumber) });
        expect(delta(before, await subject.counts())).toMatchObject({ APPOINTMENT: 1 });
        expect(delta(before, await subject.counts())).not.toHaveProperty('PATIENT');
        expect(built.get(second.cmd.appointmentId)?.localNumber).toBe(built.get(first.cmd.appointmentId)?.localNumber);
        expect(await subject.legacyRows(second.cmd.appointmentId)).toMatchObject({ NHS_NO: nhsNumber });
      });

      it('finds the patient a concurrent booking registered after this one looked, instead of registering them twice', async () => {
        // Another worker's booking for the same new NHS number registers the patient: uncommitted
        // when this booking looks (so unseen under RCSI or on Babelfish), it commits while this one
        // waits for the registration row, so only a look taken after that row finds the patient.
        const nhsNumber = randomNhsNumber();
        const hospitalNumber = `R${nhsNumber.slice(1)}`;
        const otherWorker = () =>
          subject.exec(`INSERT INTO PATIENT (HOSP_NO, NHS_NO, SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM)
                        VALUES ('${hospitalNumber}', '${nhsNumber}', 'EXAMPLE', 'F', '1980-02-29', 'T', '2026-01-01 09:00:00')`);
        const takingTheRow = (sql: string) => sql.includes('PATIENT_REGISTRATION');
        const repository = new PasRepository(new ClerkBetweenReadAndWrite(subject.database, otherWorker, () => false, takingTheRow), { clock, localPatientIdSystem: LOCAL_SYSTEM });
        const before = await subject.counts();
        const cmd = bookCommand(takeSlot(), { patient: patient(nhsNumber) });
        expect(await repository.book(cmd)).toMatchObject({ outcome: 'booked' });
        expect(delta(before, await subject.counts())).toMatchObject({ PATIENT: 1, APPOINTMENT: 1 });
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ HOSP_NO: hospitalNumber, NHS_NO: nhsNumber });
      });

      it('books one slot once when ten requests race for it', async () => {
        const slot = takeSlot();
        const before = await subject.counts();
        const results = await Promise.all(Array.from({ length: 10 }, () => pas.book(bookCommand(slot))));
        expect(results.filter((r) => r.outcome === 'booked')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'slot-unavailable')).toHaveLength(9);
        expect(delta(before, await subject.counts())).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
      });

      it('books once when ten copies of one request race, answering the others as replays', async () => {
        const cmd = bookCommand(takeSlot());
        const before = await subject.counts();
        const results = await Promise.all(Array.from({ length: 10 }, () => pas.book(cmd)));
        expect(results.filter((r) => r.outcome === 'booked')).toHaveLength(1);
        const replays = results.filter((r) => r.outcome === 'replayed');
        expect(replays).toHaveLength(9);
        for (const r of replays) expect(r).toMatchObject({ sameJob: true, appointmentId: cmd.appointmentId, version: { versionId: '1' } });
        expect(delta(before, await subject.counts())).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
      });
    });

    describe('cancel', () => {
      it('cancels: version 2 cancelled, the slot free again, version 1 unchanged', async () => {
        const { cmd: booking, slot, version: v1 } = await book();
        const cancel = cancelCommand(v1);
        const result = await pas.cancel(cancel);
        expect(result).toEqual({
          outcome: 'cancelled',
          version: { appointmentId: booking.appointmentId, versionId: '2', lastUpdated: cancel.lastUpdated, status: 'cancelled', current: true, resource: cancel.resource },
        });
        expect(await pas.readAppointment(booking.appointmentId)).toEqual(result.outcome === 'cancelled' ? result.version : undefined);
        const first = await pas.readAppointment(booking.appointmentId, '1');
        expect(first).toMatchObject({ versionId: '1', status: 'booked', current: false, lastUpdated: booking.lastUpdated });
        expect(json(first?.resource)).toBe(json(built.get(booking.appointmentId)?.resource));

        expect(await subject.legacyRows(booking.appointmentId)).toMatchObject({ APPT_STATUS: 'P', SLOT_STATUS: 'F' });
        expect(await subject.requestLog(cancel.requestId)).toEqual({ INTERACTION: 'cancel', JOB_ID: cancel.jobId, APPOINTMENT_ID: booking.appointmentId, VERSION_ID: 2 });
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
        // Free means bookable: another patient gets the slot.
        expect((await pas.book(bookCommand(slot))).outcome).toBe('booked');
      });

      it('refuses a stale version with version-conflict, writing nothing', async () => {
        const { version } = await book();
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(version, '7'))).toEqual({ outcome: 'version-conflict', currentVersionId: '1' });
        expect(await subject.counts()).toEqual(before);
        expect(await pas.readAppointment(version.appointmentId)).toEqual(version);
      });

      it('answers a second cancel with invalid-state, or version-conflict when it names the old version', async () => {
        const { version } = await book();
        expect((await pas.cancel(cancelCommand(version))).outcome).toBe('cancelled');
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(version, '2'))).toEqual({ outcome: 'invalid-state', status: 'cancelled' });
        expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        expect(await subject.counts()).toEqual(before);
      });

      it('answers not-found for an unknown appointment', async () => {
        const { version } = await book();
        for (const appointmentId of [randomUUID(), 'x'.repeat(64), '']) {
          expect(await pas.cancel(cancelCommand({ ...version, appointmentId }))).toEqual({ outcome: 'not-found' });
        }
      });

      it('replays a cancel under the same request id', async () => {
        const { version } = await book();
        const cancel = cancelCommand(version);
        const first = await pas.cancel(cancel);
        if (first.outcome !== 'cancelled') throw new Error(json(first));
        const before = await subject.counts();
        expect(await pas.cancel(cancel)).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: version.appointmentId, version: first.version });
        expect(await pas.cancel({ ...cancel, jobId: 'another-job' })).toEqual({ outcome: 'replayed', sameJob: false, appointmentId: version.appointmentId, version: first.version });
        expect(await subject.counts()).toEqual(before);
      });

      it('applies one of several racing cancels; the others see the new version', async () => {
        const { version } = await book();
        const results = await Promise.all(Array.from({ length: 5 }, () => pas.cancel(cancelCommand(version))));
        expect(results.filter((r) => r.outcome === 'cancelled')).toHaveLength(1);
        expect(results.filter((r) => r.outcome !== 'cancelled')).toEqual(Array.from({ length: 4 }, () => ({ outcome: 'version-conflict', currentVersionId: '2' })));
      });
    });

    describe('the write deadline: no PAS write after the consumer was answered "outcome unknown"', () => {
      const repositoryOver = (database: PasDatabase) => new PasRepository(database, { clock, localPatientIdSystem: LOCAL_SYSTEM });

      it('rolls back a booking whose deadline has passed when its transaction begins, writing nothing', async () => {
        const slot = takeSlot();
        const before = await subject.counts();
        await expect(pas.book(bookCommand(slot, { deadline: Date.now() - 1 }))).rejects.toBeInstanceOf(WriteDeadlinePassedError);
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
      });

      it('checks the deadline inside the transaction: a booking asked for in time whose transaction began after it writes nothing', async () => {
        const slot = takeSlot();
        const before = await subject.counts();
        const deadline = Date.now() + 50;
        const late = repositoryOver(new LateBegin(subject.database, () => pastDeadline(deadline)));
        await expect(late.book(bookCommand(slot, { deadline }))).rejects.toBeInstanceOf(WriteDeadlinePassedError);
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
      });

      it('rolls back, before COMMIT, a booking whose statements waited until past its deadline', async () => {
        const slot = takeSlot();
        const before = await subject.counts();
        const deadline = Date.now() + 50;
        // A lock wait on the slot's row, after the transaction began in time.
        const afterSlotLookUp = (sql: string) => sql.includes('FROM CLINIC_SLOT s');
        const waited = repositoryOver(new ClerkBetweenReadAndWrite(subject.database, () => pastDeadline(deadline), afterSlotLookUp));
        await expect(waited.book(bookCommand(slot, { deadline }))).rejects.toBeInstanceOf(WriteDeadlinePassedError);
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
        // The same request, in time, books.
        expect((await pas.book(bookCommand(slot, { deadline: Date.now() + 60_000 }))).outcome).toBe('booked');
      });

      it('rolls back a cancel whose deadline has passed, or passes while it waits, writing nothing', async () => {
        const { cmd: booking, slot, version } = await book();
        const before = await subject.counts();
        await expect(pas.cancel(cancelCommand(version, version.versionId, { deadline: Date.now() - 1 }))).rejects.toBeInstanceOf(WriteDeadlinePassedError);
        const deadline = Date.now() + 50;
        const waited = repositoryOver(new ClerkBetweenReadAndWrite(subject.database, () => pastDeadline(deadline)));
        await expect(waited.cancel(cancelCommand(version, version.versionId, { deadline }))).rejects.toBeInstanceOf(WriteDeadlinePassedError);
        expect(await subject.counts()).toEqual(before);
        expect(await subject.legacyRows(booking.appointmentId)).toMatchObject({ APPT_STATUS: 'B', SLOT_STATUS: 'B' });
        expect(await pas.readAppointment(booking.appointmentId)).toEqual(version);
        expect(await slotRow(slot)).toMatchObject({ status: 'busy' });
        // In time, it cancels.
        expect((await pas.cancel(cancelCommand(version, version.versionId, { deadline: Date.now() + 60_000 }))).outcome).toBe('cancelled');
      });
    });

    describe('searchAppointments', () => {
      it("finds a patient's upcoming appointments by NHS number, and one by id, as their current versions", async () => {
        const nhsNumber = randomNhsNumber();
        const [slotA, slotB] = [takeSlot(), takeSlot()].sort((x, y) => x.start.localeCompare(y.start)) as [DemoSlot, DemoSlot];
        const later = await book(slotB, { patient: patient(nhsNumber) });
        const earlier = await book(slotA, { patient: patient(nhsNumber) });
        const now = new Date().toISOString();

        expect(await pas.searchAppointments({ nhsNumber, endedBefore: now, limit: 10 })).toEqual([earlier.version, later.version]);
        expect(await pas.searchAppointments({ nhsNumber, endedBefore: now, limit: 1 })).toEqual([earlier.version]);
        // Appointments that have ended are left out of a patient search.
        expect(await pas.searchAppointments({ nhsNumber, endedBefore: slotB.end, limit: 10 })).toEqual([later.version]);
        expect(await pas.searchAppointments({ nhsNumber: randomNhsNumber(), endedBefore: now, limit: 10 })).toEqual([]);

        const cancelled = await pas.cancel(cancelCommand(later.version));
        if (cancelled.outcome !== 'cancelled') throw new Error(json(cancelled));
        expect(await pas.searchAppointments({ appointmentId: later.cmd.appointmentId, endedBefore: now, limit: 10 })).toEqual([cancelled.version]);
        expect(await pas.searchAppointments({ appointmentId: randomUUID(), endedBefore: now, limit: 10 })).toEqual([]);
      });
    });

    describe('the PAS is the truth (changes made on its own screens)', () => {
      /** Books a slot given by id and GUID, so the stored resource holds a contained Slot. */
      const bookWithSlot = async (slot = takeSlot(), overrides: Partial<BookCommand> = {}) => {
        const id = (await slotRow(slot))?.slotId as string;
        const booked = await book({ ...slot, id } as DemoSlot, overrides);
        return { ...booked, slotId: id };
      };
      const slotIdOf = async (slot: DemoSlot) => (await slotRow(slot))?.slotId as string;
      const changesSince = (n: number) => subject.observed.changes.slice(n);
      /** Slots holding two live appointments, and busy slots of these clinics with none. */
      const inconsistencies = async () => {
        const doubles = await subject.rows<{ SLOT_ID: number }>(
          `SELECT SLOT_ID FROM APPOINTMENT WHERE APPT_STATUS NOT IN ('P', 'H', 'C') GROUP BY SLOT_ID HAVING COUNT(*) > 1`,
        );
        const orphans = await subject.rows<{ SLOT_ID: number }>(
          `SELECT s.SLOT_ID FROM CLINIC_SLOT s WHERE s.SLOT_STATUS = 'B' AND s.CLINIC_CODE IN ('DEMOCL01', 'DEMOCL04')
              AND NOT EXISTS (SELECT 1 FROM APPOINTMENT a WHERE a.SLOT_ID = s.SLOT_ID AND a.APPT_STATUS NOT IN ('P', 'H', 'C'))`,
        );
        return { doubles, orphans };
      };

      describe("never overwrites a clerk's change committed between the cancel's read and its write", () => {
        const pasApptId = async (appointmentId: string) =>
          Number((await subject.rows<{ ID: number }>(`SELECT PAS_APPT_ID AS ID FROM ${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT WHERE APPOINTMENT_ID = '${appointmentId}'`))[0]?.ID);
        const clerkChanges: [string, (apptId: number) => string, Partial<LegacyRows>, PatientDetails?][] = [
          ['an arrival (B -> A)', (id) => `UPDATE APPOINTMENT SET APPT_STATUS = 'A' WHERE APPT_ID = ${id}`, { APPT_STATUS: 'A', SLOT_STATUS: 'B' }],
          [
            'a new start time',
            (id) =>
              pas.kind === 'mssql'
                ? `UPDATE APPOINTMENT SET START_DTTM = DATEADD(minute, 5, START_DTTM) WHERE APPT_ID = ${id}`
                : `UPDATE APPOINTMENT SET START_DTTM = datetime(START_DTTM, '+5 minutes') WHERE APPT_ID = ${id}`,
            { APPT_STATUS: 'B', SLOT_STATUS: 'B' },
          ],
          [
            'a new end time',
            (id) =>
              pas.kind === 'mssql'
                ? `UPDATE APPOINTMENT SET END_DTTM = DATEADD(minute, -5, END_DTTM) WHERE APPT_ID = ${id}`
                : `UPDATE APPOINTMENT SET END_DTTM = datetime(END_DTTM, '-5 minutes') WHERE APPT_ID = ${id}`,
            { APPT_STATUS: 'B', SLOT_STATUS: 'B' },
          ],
          [
            // Booked with an NHS number (the contained Patient then holds only that), given to a
            // patient without one: no identifier of the stored version differs.
            'the appointment relinked to another patient',
            (id) => `UPDATE APPOINTMENT SET PATIENT_ID = (SELECT MIN(PATIENT_ID) FROM PATIENT WHERE NHS_NO IS NULL) WHERE APPT_ID = ${id}`,
            { APPT_STATUS: 'B', SLOT_STATUS: 'B', NHS_NO: null },
            patient(randomNhsNumber()),
          ],
        ];
        it.each(clerkChanges)('%s: the write finds nothing to change, and the retry answers version-conflict', async (_what, clerkSql, legacy, bookedFor) => {
          if (bookedFor) await book(); // a patient without an NHS number, for the clerk to relink to
          const { cmd, version } = await bookWithSlot(takeSlot(), bookedFor ? { patient: bookedFor } : {});
          const apptId = await pasApptId(cmd.appointmentId);
          const repository = new PasRepository(new ClerkBetweenReadAndWrite(subject.database, () => subject.exec(clerkSql(apptId))), { clock, localPatientIdSystem: LOCAL_SYSTEM });
          const cancel = cancelCommand(version);
          // The first attempt rolls back (a transient error the worker retries) ...
          await expect(repository.cancel(cancel)).rejects.toThrow(/expected 1 row/);
          // On SQL Server the clerk's change committed on its own connection; SQLite ran it inside the
          // transaction (one writer at a time), whose rollback took it away: the clerk commits it now.
          if (pas.kind === 'sqlite') await subject.exec(clerkSql(apptId));
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject(legacy);
          // ... and the retry composes the clerk's change as version 2: the consumer's If-Match is stale.
          expect(await repository.cancel(cancel)).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject(legacy);
          expect(await inconsistencies()).toEqual({ doubles: [], orphans: [] });
        });
      });

      describe("never books onto a slot or patient row a clerk changed between the booking's read and its write", () => {
        const slotLookUp = (sql: string) => sql.includes('LEFT JOIN CLINIC c');
        const patientLookUp = (sql: string) => sql.includes('FROM PATIENT') && sql.includes('NHS_NO = @nhs');
        const clerkBetween = (clerk: () => Promise<void>, after: (sql: string) => boolean) =>
          new PasRepository(new ClerkBetweenReadAndWrite(subject.database, clerk, after), { clock, localPatientIdSystem: LOCAL_SYSTEM });
        const hours = (column: string, n: number) => (pas.kind === 'mssql' ? `DATEADD(hour, ${n}, ${column})` : `datetime(${column}, '${n} hours')`);
        /** What a booking adds; the clerk's own change (a deleted patient) is no concern here. */
        const booked = (before: Counts, after: Counts) => {
          const { PATIENT: _patients, ...rest } = delta(before, after);
          return rest;
        };
        /**
         * The booking's first attempt, the clerk's change coming in after `after`: rolled back as a
         * transient error (the worker retries), nothing booked. On SQL Server the clerk's change
         * committed on its own connection; SQLite ran it inside the rolled-back transaction, so the
         * clerk commits it now. Returns the repository for the retry.
         */
        const firstAttemptRolledBack = async (cmd: BookCommand, clerkSql: string, after: (sql: string) => boolean) => {
          const repository = clerkBetween(() => subject.exec(clerkSql), after);
          const before = await subject.counts();
          await expect(repository.book(cmd)).rejects.toBeInstanceOf(TransientPasError);
          if (pas.kind === 'sqlite') await subject.exec(clerkSql);
          expect(booked(before, await subject.counts())).toEqual({});
          return repository;
        };
        const addPatient = async (nhsNumber: string, surname: string) => {
          const hospitalNumber = `O${randomNhsNumber().slice(1)}`;
          await subject.exec(`INSERT INTO PATIENT (HOSP_NO, NHS_NO, SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM)
                              VALUES ('${hospitalNumber}', '${nhsNumber}', '${surname}', 'M', '1950-01-01', 'P', '2020-01-01 09:00:00')`);
          const [row] = await subject.rows<{ PATIENT_ID: number }>(`SELECT PATIENT_ID FROM PATIENT WHERE HOSP_NO = '${hospitalNumber}'`);
          return { id: Number(row?.PATIENT_ID), hospitalNumber };
        };

        it('a slot re-timed: the write takes nothing, and the retry answers slot-mismatch from the slot as it is now', async () => {
          const slot = takeSlot();
          const retime = `UPDATE CLINIC_SLOT SET START_DTTM = ${hours('START_DTTM', 3)}, END_DTTM = ${hours('END_DTTM', 3)} WHERE SLOT_GUID = '${slot.guid}'`;
          const cmd = bookCommand(slot);
          const repository = await firstAttemptRolledBack(cmd, retime, slotLookUp);
          const before = await subject.counts();
          // The retry decides from the slot as the PAS has it now.
          expect(await repository.book(cmd)).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/within the slot/) });
          expect(await subject.counts()).toEqual(before);
          const [row] = await subject.rows<{ SLOT_STATUS: string }>(`SELECT SLOT_STATUS FROM CLINIC_SLOT WHERE SLOT_GUID = '${slot.guid}'`);
          expect(row?.SLOT_STATUS).toBe('F');
        });

        it("a slot moved to another clinic: the write takes nothing, and the retry's answer agrees with the PAS", async () => {
          const slot = takeSlot();
          const id = (await slotRow(slot))?.slotId as string;
          const cmd = bookCommand({ ...slot, id });
          const repository = await firstAttemptRolledBack(cmd, `UPDATE CLINIC_SLOT SET CLINIC_CODE = 'DEMOCL05' WHERE SLOT_GUID = '${slot.guid}'`, slotLookUp);
          // The consumer named the slot by its identifier; the PAS has it in DEMOCL05 now, and so does the 201.
          const result = await repository.book(cmd);
          expect(result).toMatchObject({ outcome: 'booked', version: { versionId: '1' } });
          const contained = (result as { version: AppointmentVersion }).version.resource.contained as { resourceType: string; schedule?: { reference: string } }[];
          expect(contained.find((c) => c.resourceType === 'Slot')?.schedule?.reference).toBe('Schedule/DEMOCL05');
          expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '1' });
        });

        it("a slot's clinic withdrawn from the directory: answered slot-not-found from the rows as they are now, not as first read", async () => {
          const slot = takeSlot();
          const repository = clerkBetween(() => subject.exec(`UPDATE CLINIC SET ACTIVE_FLAG = 'N' WHERE CLINIC_CODE = '${slot.clinicCode}'`), slotLookUp);
          const before = await subject.counts();
          try {
            expect(await repository.book(bookCommand(slot))).toEqual({ outcome: 'slot-not-found' });
          } finally {
            await subject.exec(`UPDATE CLINIC SET ACTIVE_FLAG = 'Y' WHERE CLINIC_CODE = '${slot.clinicCode}'`);
          }
          expect(await subject.counts()).toEqual(before);
        });

        it("the patient found by NHS number renumbered (the number was someone else's): never booked onto that record", async () => {
          const nhsNumber = randomNhsNumber();
          const other = await addPatient(nhsNumber, 'OTHER');
          const cmd = bookCommand(takeSlot(), { patient: patient(nhsNumber) });
          const repository = await firstAttemptRolledBack(cmd, `UPDATE PATIENT SET NHS_NO = '${randomNhsNumber()}' WHERE PATIENT_ID = ${other.id}`, patientLookUp);
          // The retry looks again: nobody has the number now, so the patient is registered.
          expect(await repository.book(cmd)).toMatchObject({ outcome: 'booked' });
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ NHS_NO: nhsNumber, REG_TYPE: 'T', SURNAME: 'Example' });
          expect(await subject.rows(`SELECT APPT_ID FROM APPOINTMENT WHERE PATIENT_ID = ${other.id}`)).toEqual([]);
        });

        it('the patient found by NHS number merged away (appointments moved, the duplicate deleted): a retry books for the survivor', async () => {
          const nhsNumber = randomNhsNumber();
          const duplicate = await addPatient(nhsNumber, 'EXAMPLE');
          const survivor = await addPatient(nhsNumber, 'EXAMPLE');
          const merge = `UPDATE APPOINTMENT SET PATIENT_ID = ${survivor.id} WHERE PATIENT_ID = ${duplicate.id};
                         DELETE FROM PATIENT WHERE PATIENT_ID = ${duplicate.id}`;
          const cmd = bookCommand(takeSlot(), { patient: patient(nhsNumber) });
          // Not a foreign-key error (a 500): a transient one, which the worker retries.
          const repository = await firstAttemptRolledBack(cmd, merge, patientLookUp);
          expect(await repository.book(cmd)).toMatchObject({ outcome: 'booked' });
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ NHS_NO: nhsNumber, HOSP_NO: survivor.hospitalNumber });
          expect(built.get(cmd.appointmentId)?.localNumber).toBe(survivor.hospitalNumber);
        });
      });

      it('1. an appointment cancelled in the PAS reads cancelled, version 2, with who cancelled; version 1 unchanged', async () => {
        const { version, cmd } = await bookWithSlot();
        const seen = subject.observed.changes.length;
        await subject.screens.cancel(cmd.appointmentId, 'hospital');
        const read = await pas.readAppointment(cmd.appointmentId);
        expect(read).toMatchObject({ versionId: '2', status: 'cancelled', current: true });
        expect(read?.resource).toMatchObject({
          status: 'cancelled',
          meta: { versionId: '2', lastUpdated: read?.lastUpdated },
          extension: [{ url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-AppointmentCancellationReason-1', valueString: 'Cancelled by the hospital' }],
        });
        expect(Date.parse(read?.lastUpdated as string)).toBeGreaterThan(Date.parse(version.lastUpdated) - 1);
        expect(await pas.readAppointment(cmd.appointmentId, '1')).toEqual({ ...version, current: false });
        expect(changesSince(seen)).toEqual([{ kinds: ['status'], via: 'read' }]);
        // Read again: nothing new.
        expect(await pas.readAppointment(cmd.appointmentId)).toEqual(read);
        expect(changesSince(seen)).toHaveLength(1);
      });

      describe('a patient changed on the PAS screens', () => {
        const fhirAppointment = () => `${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT`;
        const pasAppt = (appointmentId: string) => `(SELECT PAS_APPT_ID FROM ${fhirAppointment()} WHERE APPOINTMENT_ID = '${appointmentId}')`;
        const relink = (appointmentId: string, hospitalNumber: string) =>
          subject.exec(`UPDATE APPOINTMENT SET PATIENT_ID = (SELECT PATIENT_ID FROM PATIENT WHERE HOSP_NO = '${hospitalNumber}') WHERE APPT_ID = ${pasAppt(appointmentId)}`);
        const registered = async (nhsNumber: string | null, surname: string, forenames: string, sex: string) => {
          const hospitalNumber = `H${randomNhsNumber().slice(1)}`;
          await subject.exec(`INSERT INTO PATIENT (HOSP_NO, NHS_NO, NHS_NO_STATUS, TITLE, FORENAMES, SURNAME, SEX, DOB, ADDR_LINE1, TOWN, POSTCODE, PHONE_NO, REG_TYPE, CREATED_DTTM)
            VALUES ('${hospitalNumber}', ${nhsNumber ? `'${nhsNumber}', '01'` : 'NULL, NULL'}, 'Mr', '${forenames}', '${surname}', '${sex}', '1950-01-01',
                    '2 Other Road', 'York', 'YO1 7HH', '01904 000000', 'P', '2020-01-01 09:00:00')`);
          return hospitalNumber;
        };
        const patientOf = (v: AppointmentVersion | null) => (v?.resource.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Patient');
        const storedPatientId = async (appointmentId: string) =>
          (await subject.rows<{ ID: number | null }>(`SELECT PAS_PATIENT_ID AS ID FROM ${fhirAppointment()} WHERE APPOINTMENT_ID = '${appointmentId}'`))[0]?.ID;
        const legacyPatientId = async (appointmentId: string) =>
          (await subject.rows<{ ID: number }>(`SELECT PATIENT_ID AS ID FROM APPOINTMENT WHERE APPT_ID = ${pasAppt(appointmentId)}`))[0]?.ID;
        const now = () => new Date().toISOString();

        it('given to another patient, it reads wholly as that patient (never one name with another NHS number), and the first If-Match is stale', async () => {
          const first = randomNhsNumber();
          const { cmd, version } = await bookWithSlot(takeSlot(), { patient: patient(first) });
          expect(await storedPatientId(cmd.appointmentId)).toBe(await legacyPatientId(cmd.appointmentId));
          const other = randomNhsNumber();
          await relink(cmd.appointmentId, await registered(other, 'OTHER', 'Bob James', 'M'));
          const seen = subject.observed.changes.length;
          const read = await pas.readAppointment(cmd.appointmentId);
          expect(read).toMatchObject({ versionId: '2', status: 'booked' });
          expect(patientOf(read)).toEqual({
            resourceType: 'Patient',
            id: 'P1',
            identifier: [{ extension: [NHS_VERIFIED], system: NHS_SYSTEM, value: other }],
            name: [{ use: 'official', family: 'OTHER', given: ['Bob', 'James'], prefix: ['Mr'] }],
            telecom: [{ system: 'phone', value: '01904 000000', rank: 1 }],
            gender: 'male',
            birthDate: '1950-01-01',
            address: [{ use: 'home', line: ['2 Other Road'], city: 'York', postalCode: 'YO1 7HH' }],
          });
          expect(read?.resource.participant).toEqual([{ actor: { reference: '#P1', identifier: { system: NHS_SYSTEM, value: other }, display: 'Bob James OTHER' }, status: 'accepted' }]);
          expect(read?.resource.description).toBe(version.resource.description);
          expect(changesSince(seen)).toEqual([{ kinds: ['patient'], via: 'read' }]);
          expect(await storedPatientId(cmd.appointmentId)).toBe(await legacyPatientId(cmd.appointmentId));
          expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'B', NHS_NO: other });
          expect(await pas.searchAppointments({ nhsNumber: first, endedBefore: now(), limit: 10 })).toEqual([]);
          expect(await pas.searchAppointments({ nhsNumber: other, endedBefore: now(), limit: 10 })).toEqual([read]);
        });

        it('given to a patient without an NHS number: the first patient\'s If-Match 1 cancels nothing, and the read shows the new patient\'s hospital number', async () => {
          const { cmd, version } = await bookWithSlot(takeSlot(), { patient: patient(randomNhsNumber()) });
          const walkIn = await registered(null, 'WALKIN', 'Pat', 'U');
          await relink(cmd.appointmentId, walkIn);
          expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
          expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'B', HOSP_NO: walkIn, NHS_NO: null });
          const read = await pas.readAppointment(cmd.appointmentId);
          expect(read).toMatchObject({ versionId: '2', status: 'booked' });
          expect(patientOf(read)).toMatchObject({ identifier: [{ system: LOCAL_SYSTEM, value: walkIn }], name: [{ family: 'WALKIN', given: ['Pat'] }], gender: 'unknown' });
          expect(read?.resource.participant).toEqual([{ actor: { reference: '#P1', identifier: { system: LOCAL_SYSTEM, value: walkIn }, display: 'Pat WALKIN' }, status: 'accepted' }]);
        });

        it.each([
          ['removed (NULL)', 'NULL'],
          ['blanked', "''"],
        ])('an NHS number a clerk %s is gone from version 2: the hospital number takes its place, the consumer\'s name stays', async (_what, blank) => {
          const nhsNumber = randomNhsNumber();
          const { cmd, version } = await bookWithSlot(takeSlot(), { patient: patient(nhsNumber) });
          await subject.exec(`UPDATE PATIENT SET NHS_NO = ${blank} WHERE PATIENT_ID = (SELECT PATIENT_ID FROM APPOINTMENT WHERE APPT_ID = ${pasAppt(cmd.appointmentId)})`);
          const hospitalNumber = (await subject.legacyRows(cmd.appointmentId))?.HOSP_NO as string;
          const read = await pas.readAppointment(cmd.appointmentId);
          expect(read).toMatchObject({ versionId: '2', status: 'booked' });
          expect(patientOf(read)).toEqual({ ...patientOf(version), identifier: [{ system: LOCAL_SYSTEM, value: hospitalNumber }] });
          expect(read?.resource.participant).toEqual([{ actor: { reference: '#P1', identifier: { system: LOCAL_SYSTEM, value: hospitalNumber }, display: 'Zoë Example' }, status: 'accepted' }]);
          expect(await pas.searchAppointments({ nhsNumber, endedBefore: now(), limit: 10 })).toEqual([]);
          expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        });

        it('an appointment recorded before the product kept its PAS patient compares identifiers, and keeps the patient from its next version on', async () => {
          const { cmd } = await bookWithSlot(takeSlot(), { patient: patient(randomNhsNumber()) });
          await subject.exec(`UPDATE ${fhirAppointment()} SET PAS_PATIENT_ID = NULL WHERE APPOINTMENT_ID = '${cmd.appointmentId}'`);
          expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '1' });
          const other = randomNhsNumber();
          await relink(cmd.appointmentId, await registered(other, 'OTHER', 'Bob', 'M'));
          const read = await pas.readAppointment(cmd.appointmentId);
          expect(read).toMatchObject({ versionId: '2' });
          expect(patientOf(read)).toMatchObject({ identifier: [{ value: other }], name: [{ family: 'OTHER', given: ['Bob'] }], gender: 'male' });
          expect(await storedPatientId(cmd.appointmentId)).toBe(await legacyPatientId(cmd.appointmentId));
        });
      });

      it('2. an appointment moved in the PAS reads with its new start, end and slot, version 2 (search too)', async () => {
        const nhsNumber = randomNhsNumber();
        const { cmd } = await bookWithSlot(takeSlot(), { patient: patient(nhsNumber) });
        const target = takeSlot();
        const targetId = await slotIdOf(target);
        await subject.screens.move(cmd.appointmentId, targetId);
        const [found] = await pas.searchAppointments({ nhsNumber, endedBefore: new Date().toISOString(), limit: 10 });
        expect(found).toMatchObject({ versionId: '2', status: 'booked' });
        expect(found?.resource).toMatchObject({ start: target.start, end: target.end });
        const slot = (found?.resource.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Slot');
        expect(slot).toMatchObject({ id: targetId, identifier: [{ value: target.guid }], start: target.start, end: target.end });
        expect(await pas.readAppointment(cmd.appointmentId)).toEqual(found);
        expect(subject.observed.changes.at(-1)).toEqual({ kinds: ['time', 'slot'], via: 'search' });
      });

      it('the screens say "no slot" for a slot id that is not there, and "not free" for one that is busy, writing nothing', async () => {
        const { cmd, slotId } = await bookWithSlot();
        const before = await subject.counts();
        await expect(subject.screens.walkIn('99999999')).rejects.toThrow('PAS screens: no slot 99999999');
        await expect(subject.screens.withdrawSlot('99999999')).rejects.toThrow('PAS screens: no slot 99999999');
        await expect(subject.screens.move(cmd.appointmentId, '99999999')).rejects.toThrow('PAS screens: no slot 99999999');
        await expect(subject.screens.walkIn(slotId)).rejects.toThrow(`PAS screens: slot ${slotId} is not free: cannot book a walk-in`);
        await expect(subject.screens.withdrawSlot(slotId)).rejects.toThrow(`PAS screens: slot ${slotId} is not free: cannot withdraw it`);
        expect(await subject.counts()).toEqual(before);
      });

      it('3. clinic cancels and gives the slot to a walk-in: old ETag 409, current 422, the walk-in keeps the slot, no rebooking', async () => {
        const { cmd, slot, version } = await bookWithSlot();
        await subject.screens.cancel(cmd.appointmentId, 'hospital');
        const slotId = await slotIdOf(slot);
        await subject.screens.walkIn(slotId);
        const before = await subject.counts();
        // Found inside the cancel's own transaction: recorded as version 2, so W/"1" is stale.
        expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        const v2 = await pas.readAppointment(cmd.appointmentId);
        expect(v2).toMatchObject({ versionId: '2', status: 'cancelled' });
        expect(await pas.cancel(cancelCommand(v2 as AppointmentVersion))).toEqual({ outcome: 'invalid-state', status: 'cancelled' });
        expect(delta(before, await subject.counts())).toEqual({ FHIR_APPOINTMENT_VERSION: 1 });
        expect(await slotRow(slot)).toMatchObject({ status: 'busy' });
        expect(await pas.book(bookCommand(slot))).toEqual({ outcome: 'slot-unavailable' });
        expect(await inconsistencies()).toEqual({ doubles: [], orphans: [] });
      });

      it('4. cancelling an appointment the PAS moved: old ETag 409; current ETag frees the slot it holds now, the old one untouched', async () => {
        const { cmd, slot: oldSlot, version } = await bookWithSlot();
        const target = takeSlot();
        await subject.screens.move(cmd.appointmentId, await slotIdOf(target));
        // The clerk gives the old slot to a walk-in.
        await subject.screens.walkIn(await slotIdOf(oldSlot));
        expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        const v2 = (await pas.readAppointment(cmd.appointmentId)) as AppointmentVersion;
        const result = await pas.cancel(cancelCommand(v2));
        expect(result).toMatchObject({ outcome: 'cancelled', version: { versionId: '3', status: 'cancelled' } });
        expect(await slotRow(target)).toMatchObject({ status: 'free' });
        expect(await slotRow(oldSlot)).toMatchObject({ status: 'busy' });
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'P', SLOT_STATUS: 'F' });
        expect(await inconsistencies()).toEqual({ doubles: [], orphans: [] });
      });

      it('4b. never frees a slot another live appointment holds', async () => {
        const { cmd, slot, version } = await bookWithSlot();
        const slotId = await slotIdOf(slot);
        // An inconsistent PAS: a second live appointment in the same slot, entered by hand.
        await subject.exec(
          `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
           SELECT SLOT_ID, PATIENT_ID, 'B', START_DTTM, END_DTTM, 'double', 'PAS', BOOKED_DTTM FROM APPOINTMENT WHERE SLOT_ID = ${Number(slotId)}`,
        );
        expect(await pas.cancel(cancelCommand(version))).toMatchObject({ outcome: 'cancelled' });
        expect(await slotRow(slot)).toMatchObject({ status: 'busy' });
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'P', SLOT_STATUS: 'B' });
      });

      it('5. books only published, free, future slots held by no live appointment', async () => {
        const idsOf = async (clinic: string) => (await subject.rows<{ SLOT_ID: number; SLOT_GUID: string; START_DTTM: string | Date; END_DTTM: string | Date }>(
          `SELECT SLOT_ID, SLOT_GUID, START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE CLINIC_CODE = '${clinic}'`,
        ))[0] as { SLOT_ID: number; SLOT_GUID: string; START_DTTM: string | Date; END_DTTM: string | Date };
        const asSlot = (r: Awaited<ReturnType<typeof idsOf>>) => ({ id: String(r.SLOT_ID), start: clock.toInstant(r.START_DTTM), end: clock.toInstant(r.END_DTTM) });
        const before = await subject.counts();
        expect(await pas.book(bookCommand(asSlot(await idsOf('INACTV01'))))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand(asSlot(await idsOf('NODOS001'))))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand(asSlot(await idsOf('PASTCL01'))))).toEqual({ outcome: 'slot-unavailable' });
        const withdrawn = takeSlot();
        await subject.screens.withdrawSlot(await slotIdOf(withdrawn));
        expect(await pas.book(bookCommand(withdrawn))).toEqual({ outcome: 'slot-unavailable' });
        const walkedIn = takeSlot();
        await subject.screens.walkIn(await slotIdOf(walkedIn));
        const afterScreens = await subject.counts();
        expect(await pas.book(bookCommand(walkedIn))).toEqual({ outcome: 'slot-unavailable' });
        // Free on the slot row, yet a live appointment holds it (a PAS that left the slot F).
        const stray = takeSlot();
        const strayId = Number(await slotIdOf(stray));
        await subject.exec(
          `INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, REASON, SOURCE_CODE, BOOKED_DTTM)
           SELECT ${strayId}, MIN(PATIENT_ID), 'B', '${clock.toLocal(stray.start)}', '${clock.toLocal(stray.end)}', 'stray', 'PAS', '${clock.toLocal(stray.start)}' FROM PATIENT`,
        );
        expect(await pas.book(bookCommand(stray))).toEqual({ outcome: 'slot-unavailable' });
        // Searches agree with the booking: a slot a live appointment holds is busy, not free (§8.1).
        expect(await slotRow(stray)).toMatchObject({ status: 'busy' });
        expect(delta(before, afterScreens)).toEqual({ PATIENT: 1, APPOINTMENT: 1 });
      });

      it('7. an appointment that has begun (start passed, no attendance recorded yet) is not cancelled: its slot and a later did-not-attend stay the clinic\'s', async () => {
        const { cmd, slot } = await bookWithSlot();
        const apptId = Number((await subject.rows<{ ID: number }>(`SELECT PAS_APPT_ID AS ID FROM ${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT WHERE APPOINTMENT_ID = '${cmd.appointmentId}'`))[0]?.ID);
        // Time passes: the appointment began ten minutes ago (its rows moved back, as the clock cannot be).
        const local = (minutes: number) => clock.toLocal(new Date(Date.now() + minutes * 60_000).toISOString());
        const literal = (minutes: number) => (pas.kind === 'mssql' ? `CONVERT(DATETIME, '${local(minutes)}', 120)` : `'${local(minutes)}'`);
        await subject.exec(`UPDATE APPOINTMENT SET START_DTTM = ${literal(-10)}, END_DTTM = ${literal(5)} WHERE APPT_ID = ${apptId}`);
        const v2 = (await pas.readAppointment(cmd.appointmentId)) as AppointmentVersion;
        expect(v2).toMatchObject({ versionId: '2', status: 'booked' });
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(v2))).toEqual({ outcome: 'invalid-state', status: 'booked', started: v2.resource.start });
        expect(await subject.counts()).toEqual(before);
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'B', SLOT_STATUS: 'B' });
        expect(await slotRow(slot)).toMatchObject({ status: 'busy' });
        // The clinic records what happened.
        await subject.screens.didNotAttend(cmd.appointmentId);
        expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '3', status: 'noshow' });
      });

      it('6. arrived / attended / did-not-attend read as arrived / fulfilled / noshow; attended or noshow cannot be cancelled', async () => {
        const arrived = await bookWithSlot();
        await subject.screens.arrive(arrived.cmd.appointmentId);
        expect(await pas.readAppointment(arrived.cmd.appointmentId)).toMatchObject({ versionId: '2', status: 'arrived' });
        await subject.screens.attend(arrived.cmd.appointmentId);
        const attended = (await pas.readAppointment(arrived.cmd.appointmentId)) as AppointmentVersion;
        expect(attended).toMatchObject({ versionId: '3', status: 'fulfilled' });
        expect(await pas.cancel(cancelCommand(attended))).toEqual({ outcome: 'invalid-state', status: 'fulfilled' });

        const dna = await bookWithSlot();
        await subject.screens.didNotAttend(dna.cmd.appointmentId);
        const noshow = (await pas.readAppointment(dna.cmd.appointmentId)) as AppointmentVersion;
        expect(noshow).toMatchObject({ versionId: '2', status: 'noshow' });
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(noshow))).toEqual({ outcome: 'invalid-state', status: 'noshow' });
        expect(await subject.counts()).toEqual(before);
        expect(await subject.legacyRows(dna.cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'D', SLOT_STATUS: 'B' });
      });

      it('reads legacy codes trimmed and case-insensitively; an unknown code keeps the last status, is reported, and is never cancellable or free', async () => {
        const { cmd, slot, version } = await bookWithSlot();
        await subject.exec(`UPDATE APPOINTMENT SET APPT_STATUS = 'a' WHERE APPT_ID = (SELECT PAS_APPT_ID FROM ${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT WHERE APPOINTMENT_ID = '${cmd.appointmentId}')`);
        expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '2', status: 'arrived' });
        await subject.exec(`UPDATE APPOINTMENT SET APPT_STATUS = 'Z' WHERE APPT_ID = (SELECT PAS_APPT_ID FROM ${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT WHERE APPOINTMENT_ID = '${cmd.appointmentId}')`);
        const unknown = (await pas.readAppointment(cmd.appointmentId)) as AppointmentVersion;
        expect(unknown).toMatchObject({ versionId: '2', status: 'arrived' });
        expect(subject.observed.unknown.at(-1)).toEqual({ column: 'APPOINTMENT.APPT_STATUS', code: 'Z' });
        expect(await pas.cancel(cancelCommand(unknown))).toEqual({ outcome: 'invalid-state', status: 'arrived' });
        // Even with the slot row set free by hand, the appointment in an unknown state holds it.
        await subject.screens.withdrawSlot(await slotIdOf(slot)).catch(() => undefined);
        await subject.exec(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F' WHERE SLOT_ID = ${Number(await slotIdOf(slot))}`);
        expect(await pas.book(bookCommand(slot))).toEqual({ outcome: 'slot-unavailable' });
        expect(version.versionId).toBe('1');
      });

      it('reads a slot code with no mapping as busy-unavailable, reports it, and never books it', async () => {
        const slot = takeSlot();
        const id = Number(await slotIdOf(slot));
        await subject.exec(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'Q' WHERE SLOT_ID = ${id}`);
        expect(await slotRow(slot)).toMatchObject({ status: 'busy-unavailable' });
        expect(subject.observed.unknown.at(-1)).toEqual({ column: 'CLINIC_SLOT.SLOT_STATUS', code: 'Q' });
        expect(await pas.book(bookCommand(slot))).toEqual({ outcome: 'slot-unavailable' });
        // A lower-case, padded free code is free.
        await subject.exec(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'f' WHERE SLOT_ID = ${id}`);
        expect((await pas.book(bookCommand(slot))).outcome).toBe('booked');
      });

      it('records one version 2 however many readers see the change at once', async () => {
        const { cmd } = await bookWithSlot();
        await subject.screens.cancel(cmd.appointmentId, 'patient');
        const reads = await Promise.all(Array.from({ length: 6 }, () => pas.readAppointment(cmd.appointmentId)));
        expect(new Set(reads.map((r) => r?.versionId))).toEqual(new Set(['2']));
        expect(await pas.readAppointment(cmd.appointmentId, '3')).toBeNull();
        expect(reads[0]?.resource).toMatchObject({ extension: [{ valueString: 'Cancelled by the patient' }] });
      });

      it('reconcile sweeps in bounded steps and records what changed, once', async () => {
        const a = await bookWithSlot();
        const b = await bookWithSlot();
        await subject.screens.cancel(a.cmd.appointmentId, 'hospital');
        await subject.screens.arrive(b.cmd.appointmentId);
        const now = new Date().toISOString();
        let after: string | undefined;
        let versioned = 0;
        let checked = 0;
        for (let step = 0; step < 1000; step++) {
          const result = await pas.reconcile({ limit: 7, now, ...(after ? { after } : {}) });
          expect(result.checked).toBeLessThanOrEqual(7);
          checked += result.checked;
          versioned += result.versioned;
          after = result.next;
          if (!after) break;
        }
        expect(after).toBeUndefined();
        expect(versioned).toBeGreaterThanOrEqual(2);
        expect(checked).toBeGreaterThanOrEqual(2);
        expect(await pas.readAppointment(a.cmd.appointmentId)).toMatchObject({ versionId: '2', status: 'cancelled' });
        expect(await pas.readAppointment(b.cmd.appointmentId)).toMatchObject({ versionId: '2', status: 'arrived' });
        expect(subject.observed.changes.filter((c) => c.via === 'reconcile').length).toBeGreaterThanOrEqual(2);
        // A second sweep finds nothing new.
        const again = await pas.reconcile({ limit: 10_000, now });
        expect(again.versioned).toBe(0);
        expect(again.next).toBeUndefined();
      });

      const pasApptIdOf = async (appointmentId: string) =>
        Number((await subject.rows<{ ID: number }>(`SELECT PAS_APPT_ID AS ID FROM ${pas.kind === 'mssql' ? 'booking.' : 'booking_'}FHIR_APPOINTMENT WHERE APPOINTMENT_ID = '${appointmentId}'`))[0]?.ID);
      const containedSlot = (v: AppointmentVersion | null) => (v?.resource.contained as Record<string, unknown>[]).find((r) => r.resourceType === 'Slot');
      const hourLater = (column: string) => (pas.kind === 'mssql' ? `DATEADD(hour, 1, ${column})` : `datetime(${column}, '+1 hours')`);

      it("books a consumer's contained Slot as the PAS has the slot (its Schedule id), so nothing changed reads as version 1 and a cancel with If-Match 1 works", async () => {
        const slot = takeSlot();
        const { cmd, version } = await bookWithSlot({ ...slot, clinicCode: 'ELSEWHERE' });
        expect(containedSlot(version)).toMatchObject({ schedule: { reference: `Schedule/${slot.clinicCode}` }, start: slot.start, end: slot.end });
        expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '1' });
        expect((await pas.cancel(cancelCommand(version))).outcome).toBe('cancelled');
      });

      it("a booking stored before PAS_PATIENT_ID was recorded keeps its consumer's copy of the Slot uncompared, and its cancel stores the PAS's slot: no version follows that the PAS did not make", async () => {
        const slot = takeSlot();
        const { cmd, version } = await bookWithSlot(slot);
        const [fhir, versions] = pas.kind === 'mssql' ? ['booking.FHIR_APPOINTMENT', 'booking.FHIR_APPOINTMENT_VERSION'] : ['booking_FHIR_APPOINTMENT', 'booking_FHIR_APPOINTMENT_VERSION'];
        // As an older release left it: no PAS_PATIENT_ID, and the consumer's own Schedule id in the Slot.
        await subject.exec(`UPDATE ${fhir} SET PAS_PATIENT_ID = NULL WHERE APPOINTMENT_ID = '${cmd.appointmentId}'`);
        await subject.exec(`UPDATE ${versions} SET RESOURCE_JSON = REPLACE(RESOURCE_JSON, 'Schedule/${slot.clinicCode}', 'Schedule/ELSEWHERE') WHERE APPOINTMENT_ID = '${cmd.appointmentId}'`);
        const read = await pas.readAppointment(cmd.appointmentId);
        expect(read).toMatchObject({ versionId: '1' });
        expect(containedSlot(read)).toMatchObject({ schedule: { reference: 'Schedule/ELSEWHERE' } });
        const cancelled = await pas.cancel(cancelCommand(read ?? version));
        expect(cancelled).toMatchObject({ outcome: 'cancelled', version: { versionId: '2' } });
        expect(await pas.readAppointment(cmd.appointmentId)).toMatchObject({ versionId: '2' }); // before: 3, a 'slot' change the PAS never made
      });

      it('a slot re-timed on the PAS, or moved to another clinic, changes the contained Slot as a new version', async () => {
        const { cmd, slot, slotId } = await bookWithSlot();
        const seen = subject.observed.changes.length;
        const later = (t: string) => new Date(Date.parse(t) + 3_600_000).toISOString();
        // Only the CLINIC_SLOT row: the appointment keeps its times, its slot does not.
        await subject.exec(`UPDATE CLINIC_SLOT SET START_DTTM = ${hourLater('START_DTTM')}, END_DTTM = ${hourLater('END_DTTM')} WHERE SLOT_ID = ${Number(slotId)}`);
        const v2 = await pas.readAppointment(cmd.appointmentId);
        expect(v2).toMatchObject({ versionId: '2', resource: { start: slot.start, end: slot.end } });
        expect(containedSlot(v2)).toMatchObject({ id: slotId, start: later(slot.start), end: later(slot.end), schedule: { reference: `Schedule/${slot.clinicCode}` } });
        expect(changesSince(seen)).toEqual([{ kinds: ['slot'], via: 'read' }]);
        // The slot moved to another clinic (diary): the contained Slot's schedule follows.
        await subject.exec(`UPDATE CLINIC_SLOT SET CLINIC_CODE = 'INACTV01' WHERE SLOT_ID = ${Number(slotId)}`);
        const v3 = await pas.readAppointment(cmd.appointmentId);
        expect(v3).toMatchObject({ versionId: '3' });
        expect(containedSlot(v3)).toMatchObject({ id: slotId, start: later(slot.start), schedule: { reference: 'Schedule/INACTV01' } });
        expect(await pas.readAppointment(cmd.appointmentId)).toEqual(v3);
      });

      it('a clerk re-coding who cancelled (patient <-> hospital) is a new version with the new reason', async () => {
        const { cmd } = await bookWithSlot();
        await subject.screens.cancel(cmd.appointmentId, 'patient');
        expect((await pas.readAppointment(cmd.appointmentId))?.resource).toMatchObject({ extension: [{ valueString: 'Cancelled by the patient' }] });
        await subject.exec(`UPDATE APPOINTMENT SET APPT_STATUS = 'H' WHERE APPT_ID = ${await pasApptIdOf(cmd.appointmentId)}`);
        const v3 = await pas.readAppointment(cmd.appointmentId);
        expect(v3).toMatchObject({ versionId: '3', status: 'cancelled' });
        expect(v3?.resource.extension).toEqual([{ url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-AppointmentCancellationReason-1', valueString: 'Cancelled by the hospital' }]);
        expect(await pas.readAppointment(cmd.appointmentId)).toEqual(v3);
      });

      it('an appointment deleted on the PAS before it happened reads entered-in-error; cancel, search and sweep agree, and its freed slot is booked again', async () => {
        const { cmd, slot, slotId, version } = await bookWithSlot();
        const other = await bookWithSlot();
        // A booking made in error: the clerk deletes both appointments and frees their slots.
        for (const c of [cmd, other.cmd]) await subject.exec(`DELETE FROM APPOINTMENT WHERE APPT_ID = ${await pasApptIdOf(c.appointmentId)}`);
        await subject.exec(`UPDATE CLINIC_SLOT SET SLOT_STATUS = 'F' WHERE SLOT_ID IN (${Number(slotId)}, ${Number(other.slotId)})`);
        // Found inside the cancel's own transaction: recorded as version 2, so W/"1" is stale.
        expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        const v2 = (await pas.readAppointment(cmd.appointmentId)) as AppointmentVersion;
        expect(v2).toMatchObject({ versionId: '2', status: 'entered-in-error', resource: { status: 'entered-in-error', meta: { versionId: '2' } } });
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(v2))).toEqual({ outcome: 'invalid-state', status: 'entered-in-error' });
        expect(await subject.counts()).toEqual(before);
        expect(await pas.searchAppointments({ appointmentId: cmd.appointmentId, endedBefore: new Date().toISOString(), limit: 10 })).toEqual([v2]);
        // The sweep finds the other one, records it once, and then leaves both alone (a final state).
        const now = new Date().toISOString();
        const first = await pas.reconcile({ limit: 10_000, now });
        expect(await pas.readAppointment(other.cmd.appointmentId)).toMatchObject({ versionId: '2', status: 'entered-in-error' });
        const second = await pas.reconcile({ limit: 10_000, now });
        expect(second).toEqual({ checked: first.checked - 1, versioned: 0, unreadable: 0 });
        // The freed slot is someone else's now; the deleted appointment still says entered-in-error.
        expect((await pas.book(bookCommand({ ...slot, id: slotId }))).outcome).toBe('booked');
        expect(await pas.readAppointment(cmd.appointmentId)).toEqual(v2);
      });

      // Text datetimes exist only in the SQLite PAS (a SQL Server DATETIME holds no text).
      it.skipIf(name !== 'SQLite')('a legacy datetime the clock cannot read leaves out only its own row: the NHS-number search, slot searches and the sweep go on', async () => {
        const nhsNumber = randomNhsNumber();
        const bad = await bookWithSlot(takeSlot(), { patient: patient(nhsNumber) });
        const good = await bookWithSlot(takeSlot(), { patient: patient(nhsNumber) });
        await subject.exec(`UPDATE APPOINTMENT SET START_DTTM = '2026-02-30 09:00:00' WHERE APPT_ID = ${await pasApptIdOf(bad.cmd.appointmentId)}`);
        // Written without seconds (as SQLite's date functions allow): read as the same time.
        await subject.exec(`UPDATE APPOINTMENT SET END_DTTM = substr(END_DTTM, 1, 16) WHERE APPT_ID = ${await pasApptIdOf(good.cmd.appointmentId)}`);
        await subject.screens.cancel(good.cmd.appointmentId, 'hospital');
        const found = await pas.searchAppointments({ nhsNumber, endedBefore: new Date().toISOString(), limit: 10 });
        expect(found.map((v) => [v.appointmentId, v.versionId, v.status, v.resource.end])).toEqual([[good.cmd.appointmentId, '2', 'cancelled', good.slot.end]]);
        const unreadable = { table: 'APPOINTMENT', id: bad.cmd.appointmentId, reason: 'invalid PAS datetime "2026-02-30 09:00:00"' };
        expect(subject.observed.unreadable).toContainEqual(unreadable);
        await expect(pas.readAppointment(bad.cmd.appointmentId)).rejects.toThrow(/invalid PAS datetime/);
        // The sweep passes over it, counted, and reaches the end.
        const swept = await pas.reconcile({ limit: 10_000, now: new Date().toISOString() });
        expect(swept).toMatchObject({ unreadable: 1 });
        expect(swept.next).toBeUndefined();
        // Slots: one unreadable row is left out of the search, one without seconds is read.
        const [odd, noSeconds] = [takeSlot(), takeSlot()];
        const [oddId, noSecondsId] = [await slotIdOf(odd), await slotIdOf(noSeconds)];
        await subject.exec(`UPDATE CLINIC_SLOT SET END_DTTM = '2026-13-01 09:00:00' WHERE SLOT_ID = ${Number(oddId)}`);
        await subject.exec(`UPDATE CLINIC_SLOT SET START_DTTM = substr(START_DTTM, 1, 16) WHERE SLOT_ID = ${Number(noSecondsId)}`);
        const slots = (await search({ serviceId: odd.serviceId })).slots;
        expect(slots.find((s) => s.slotId === noSecondsId)).toMatchObject({ start: noSeconds.start, status: 'free' });
        expect(slots.find((s) => s.slotId === oddId)).toBeUndefined();
        expect(slots.length).toBeGreaterThan(1);
        expect(subject.observed.unreadable).toContainEqual({ table: 'CLINIC_SLOT', id: oddId, reason: 'invalid PAS datetime "2026-13-01 09:00:00"' });
      });

      it('reads row counts and ids right past legacy triggers that audit (and, on SQL Server, return rows)', async () => {
        const auditBefore = (await subject.rows<{ N: number }>('SELECT COUNT(*) AS N FROM PAS_AUDIT'))[0]?.N ?? 0;
        const { version, slot } = await bookWithSlot();
        expect(await slotRow(slot)).toMatchObject({ status: 'busy' });
        expect(await pas.cancel(cancelCommand(version))).toMatchObject({ outcome: 'cancelled' });
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
        const auditAfter = (await subject.rows<{ N: number }>('SELECT COUNT(*) AS N FROM PAS_AUDIT'))[0]?.N ?? 0;
        // Slot B, appointment P, slot F.
        expect(Number(auditAfter) - Number(auditBefore)).toBeGreaterThanOrEqual(3);
      });
    });

    describe('readAppointment', () => {
      it('answers null for an unknown appointment or version, and for a version that is not a number', async () => {
        const { version } = await book();
        expect(await pas.readAppointment(randomUUID())).toBeNull();
        expect(await pas.readAppointment('x'.repeat(64))).toBeNull();
        for (const versionId of ['2', '0', 'abc', '', '1.0', '-1', '99999999999']) {
          expect(await pas.readAppointment(version.appointmentId, versionId), versionId).toBeNull();
        }
        expect(await pas.readAppointment(version.appointmentId, '1')).toEqual(version);
      });

      it('answers ping', async () => {
        await expect(pas.ping()).resolves.toBeUndefined();
      });
    });
  });
}

/** Tables whose row count changed, with the change. */
function delta(before: Counts, after: Counts): Partial<Counts> {
  return Object.fromEntries(TABLES.filter((t) => after[t] !== before[t]).map((t) => [t, after[t] - before[t]]));
}

describePasContract('SQLite', openSqlite);

describe('SQLite: a write that waits for the connection or the file lock past its deadline', () => {
  const data = contractData();
  const slots = slotsOf(data, 'DEMOCL04').filter((s) => s.status === 'F');
  let subject: PasUnderTest;
  beforeAll(async () => {
    subject = await openSqlite(data);
  });
  afterAll(async () => {
    await subject?.close();
  });
  const sqlite = () => (subject.pas as SqlitePas).db;

  it("writes nothing when queued behind the connection's other work until past its deadline", async () => {
    // The worker's one connection serialises its jobs: this booking waits for another job's transaction.
    const database = new SqliteDatabase(sqlite(), 5000);
    const repository = new PasRepository(database, { clock, localPatientIdSystem: LOCAL_SYSTEM });
    let release = () => {};
    const otherJob = database.transaction(() => new Promise<TxOutcome<undefined>>((resolve) => (release = () => resolve(rollback(undefined)))));
    const before = await subject.counts();
    const deadline = Date.now() + 50;
    const booking = repository.book(bookCommand(slots[0] as DemoSlot, { deadline }));
    await pastDeadline(deadline);
    release();
    await otherJob;
    await expect(booking).rejects.toBeInstanceOf(WriteDeadlinePassedError);
    expect(await subject.counts()).toEqual(before);
  });

  it("stops waiting for another process's write lock at the deadline, not at the busy timeout", { timeout: 30_000 }, async () => {
    // A busy timeout far beyond the test's own: only the deadline can end the wait in time.
    const database = new SqliteDatabase(sqlite(), 600_000);
    const repository = new PasRepository(database, { clock, localPatientIdSystem: LOCAL_SYSTEM });
    const before = await subject.counts();
    const clerk = new Database(sqlite().name);
    clerk.exec('BEGIN EXCLUSIVE'); // a PAS screen, a report or a backup holds the file's write lock
    try {
      // Busy (transient): the worker's retry then stops at the deadline, as it already does.
      await expect(repository.book(bookCommand(slots[1] as DemoSlot, { deadline: Date.now() + 100 }))).rejects.toBeInstanceOf(TransientPasError);
    } finally {
      clerk.exec('ROLLBACK');
      clerk.close();
      sqlite().pragma('busy_timeout = 5000');
    }
    expect(await subject.counts()).toEqual(before);
  });
});

const mssqlUrl = process.env.PAS_MSSQL_URL;
if (mssqlUrl) {
  describePasContract('SQL Server', openMssql(mssqlUrl));

  describe('SQL Server fault: the connection killed in the middle of a booking', () => {
    it('leaves nothing half-written and no pooled connection inside a transaction', async () => {
      const data = contractData();
      const subject = await openMssql(mssqlUrl)(data);
      try {
        const slot = slotsOf(data, 'DEMOCL04')[0] as DemoSlot;
        const before = await subject.counts();
        // The fixture's AFTER INSERT trigger holds this booking's transaction open for 3 s
        // (after the slot went busy and the appointment row was written): kill it meanwhile.
        const booking = subject.pas.book(bookCommand(slot, { reason: 'FAULT: hold the transaction' }));
        let killed = false;
        for (let i = 0; i < 50 && !killed; i++) {
          await new Promise((r) => setTimeout(r, 50));
          const [waiting] = await subject.rows<{ SESSION_ID: number }>(
            `SELECT session_id AS SESSION_ID FROM sys.dm_exec_requests WHERE wait_type = 'WAITFOR' AND session_id <> @@SPID`,
          );
          if (waiting) {
            await subject.exec(`KILL ${Number(waiting.SESSION_ID)}`);
            killed = true;
          }
        }
        expect(killed).toBe(true);
        await expect(booking).rejects.toThrow();
        expect(await subject.counts()).toEqual(before);
        // Every connection the pool lends out now is outside any transaction.
        const pool = (subject.pas as MssqlPas).pool;
        const counts = await Promise.all(Array.from({ length: 10 }, async () => (await pool.request().query<{ N: number }>('SELECT @@TRANCOUNT AS N')).recordset[0]?.N));
        expect(counts).toEqual(Array.from({ length: 10 }, () => 0));
        // And the slot is still free to book.
        expect((await subject.pas.book(bookCommand(slot))).outcome).toBe('booked');
      } finally {
        await subject.close();
      }
    });
  });
} else {
  describe.skip('SQL Server contract tests skipped: set PAS_MSSQL_URL=mssql://user:password@host:1433/database?trustServerCertificate=true (a database they may wipe) to run them', () => {
    it('runs the PAS contract against SQL Server', () => undefined);
  });
}
