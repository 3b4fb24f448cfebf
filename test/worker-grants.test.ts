import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AppointmentVersion,
  type BookCommand,
  DEFAULT_STATUS_MAPPING,
  DEMO_SERVICE_WITH_SLOTS,
  generateDemoData,
  LocalClock,
  openPasScreens,
  type PasScreens,
  type PatientDetails,
  type SlotRow,
} from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotSearchInput, slotSearchSql } from '../adapters/pas/src/mssql/slot-search-sql.js';
import { sqliteDialect } from '../adapters/pas/src/session.js';
import { schemaProbes } from '../adapters/pas/src/transactions/schema-probe.js';
import { TABLES } from '@booking/pas';
import { grantsIn, grantsNeeded } from './support/grants.js';
import { type ColumnAccess, columnAccess, type SchemaColumns } from './support/sql-access.js';
import { REPO_ROOT } from './support/stack.js';

/**
 * The worker's SQL against its least-privilege grants. @booking/pas TABLES (adapters/pas/src/requirements.ts) is what
 * docker/compose.yaml, docker/azure-sql/worker-role.sql and docs/install.md grant the worker's login
 * and what doctor checks it holds; SQL Server checks UPDATE permission on every SET column and SELECT
 * on every column a statement reads, so a column the SQL uses beyond TABLES fails that statement
 * (error 229/230) on a trust's PAS, though SQLite, the grant scripts and doctor all agree.
 *
 * So the real adapter (SQLite PAS) runs every path of the worker — slot search, bookings (a new NHS
 * number, a known one, none), replays, reads, vreads, searches, a clerk's change recorded as a version
 * by a read, by a cancel and by the sweep, a cancel — and every statement it prepares is recorded;
 * each table and column those statements touch must be in TABLES. The SQL Server slot search (its
 * own text) is checked the same way.
 */

const clock = new LocalClock('Europe/London');
const sqliteName = (name: string) => name.replace(/^booking\./, 'booking_').toUpperCase();
const requirement = new Map(TABLES.map((t) => [sqliteName(t.name), t]));

let dir: string;
let pas: SqlitePas;
let screens: PasScreens;
let schema: SchemaColumns;
/** Every statement the adapter prepared while the worker's paths ran. */
const statements = new Set<string>();
/** The statements of the start-up schema probe: held to the grants, but not counted as the worker's use of a column. */
const probeStatements = new Set<string>();
let recording: Set<string> | undefined;

function patient(nhsNumber?: string): PatientDetails {
  return { ...(nhsNumber ? { nhsNumber, nhsNumberStatus: '01' } : {}), title: 'Ms', given: 'Grant', family: 'Check', gender: 'female', birthDate: '1980-01-01', addressLines: ['1 Test Street'], postalCode: 'LS1 4AP', phone: '0113 496 0000' };
}

function bookCommand(slot: SlotRow, who: PatientDetails, requestId = randomUUID()): BookCommand {
  const appointmentId = randomUUID();
  const lastUpdated = new Date().toISOString();
  return {
    requestId,
    jobId: `job-${randomUUID()}`,
    appointmentId,
    slotGuid: slot.slotGuid,
    start: slot.start,
    end: slot.end,
    reason: 'grant check',
    patient: who,
    lastUpdated,
    buildResource: (localNumber) => ({
      resourceType: 'Appointment',
      id: appointmentId,
      meta: { versionId: '1', lastUpdated },
      status: 'booked',
      start: slot.start,
      end: slot.end,
      slot: [{ reference: `Slot/${slot.slotId}` }],
      contained: [{ resourceType: 'Patient', id: 'P1', identifier: [{ system: 'https://example.org/local', value: localNumber }] }],
      participant: [{ actor: { reference: '#P1' }, status: 'accepted' }],
    }),
  };
}

function cancelCommand(version: AppointmentVersion) {
  const lastUpdated = new Date().toISOString();
  return {
    requestId: randomUUID(),
    jobId: `job-${randomUUID()}`,
    appointmentId: version.appointmentId,
    expectedVersionId: version.versionId,
    lastUpdated,
    resource: { ...version.resource, status: 'cancelled', meta: { versionId: String(Number(version.versionId) + 1), lastUpdated } },
  };
}

async function booked(cmd: BookCommand): Promise<AppointmentVersion> {
  const result = await pas.book(cmd);
  if (result.outcome !== 'booked') throw new Error(`booking: ${JSON.stringify(result)}`);
  return result.version;
}

/** The worker's paths, each run through the adapter while its statements are recorded. */
async function runWorkerPaths(): Promise<void> {
  const search = await pas.searchSlots({ serviceId: DEMO_SERVICE_WITH_SLOTS, statuses: ['free'], limit: 10 });
  const free = [...search.slots];
  const next = () => {
    const slot = free.shift();
    if (!slot) throw new Error('the demo service ran out of free slots');
    return slot;
  };
  await pas.searchSlots({ serviceId: DEMO_SERVICE_WITH_SLOTS, statuses: [], limit: 5, startFrom: { instant: free[0]?.start as string, inclusive: true }, startTo: { instant: free[5]?.start as string, inclusive: true } });
  await pas.searchSlots({ serviceId: '000000000', statuses: ['free'], limit: 5 });

  // A new NHS number (registration takes booking.PATIENT_REGISTRATION), the same one again (known
  // patient), and no NHS number at all.
  const nhsNumber = String(9_000_000_000 + Math.floor(Math.random() * 999_999_999));
  const first = bookCommand(next(), patient(nhsNumber));
  const a = await booked(first);
  const b = await booked(bookCommand(next(), patient(nhsNumber)));
  const c = await booked(bookCommand(next(), patient()));
  // A replay of a booking, a taken slot, an unknown slot.
  expect((await pas.book({ ...first, jobId: 'job-again' })).outcome).toBe('replayed');
  expect((await pas.book(bookCommand(search.slots[0] as SlotRow, patient()))).outcome).toBe('slot-unavailable');
  const unknown = bookCommand(next(), patient());
  expect((await pas.book({ ...unknown, slotGuid: randomUUID(), slotId: '999999' })).outcome).toBe('slot-not-found');

  // Reads, vreads, searches, the write look-up.
  expect((await pas.readAppointment(a.appointmentId))?.versionId).toBe('1');
  expect((await pas.readAppointment(a.appointmentId, '1'))?.versionId).toBe('1');
  await pas.searchAppointments({ nhsNumber, endedBefore: new Date().toISOString(), limit: 10 });
  await pas.searchAppointments({ appointmentId: b.appointmentId, endedBefore: new Date().toISOString(), limit: 1 });
  await pas.findWrite({ requestId: first.requestId, jobId: first.jobId });

  // A cancel through the API.
  const cancelled = await pas.cancel(cancelCommand(a));
  expect(cancelled.outcome).toBe('cancelled');
  expect((await pas.cancel(cancelCommand(cancelled.outcome === 'cancelled' ? cancelled.version : a))).outcome).toBe('invalid-state');

  // A clerk moves b to another slot: a read records it as version 2 (its slot moves with it), and a
  // vread of version 1 is then not the current one.
  recording = undefined;
  const moveTo = next();
  await screens.move(b.appointmentId, moveTo.slotId);
  recording = statements;
  expect((await pas.readAppointment(b.appointmentId))?.versionId).toBe('2');
  expect((await pas.readAppointment(b.appointmentId, '1'))?.current).toBe(false);

  // A clerk moves c: the consumer's cancel on version 1 records the change and answers a conflict.
  recording = undefined;
  await screens.move(c.appointmentId, next().slotId);
  recording = statements;
  expect((await pas.cancel(cancelCommand(c))).outcome).toBe('version-conflict');

  // A clerk records b's arrival: the sweep records it.
  recording = undefined;
  await screens.arrive(b.appointmentId);
  recording = statements;
  const swept = await pas.reconcile({ limit: 100, now: new Date().toISOString() });
  expect(swept.versioned).toBeGreaterThanOrEqual(1);
  await pas.ping();
}

/** The SQL Server slot search is its own text: the same accesses, from every shape it takes. */
function mssqlSlotSearches(): string[] {
  const now = new Date().toISOString();
  const later = new Date(Date.now() + 86_400_000).toISOString();
  const query = (statuses: string[], bounded: boolean) =>
    slotSearchSql(
      slotSearchInput(
        { serviceId: DEMO_SERVICE_WITH_SLOTS, statuses: [] as never[], limit: 10, ...(bounded ? { startFrom: { instant: now, inclusive: true }, startTo: { instant: later, inclusive: false } } : {}) },
        ['DEMOCL01', 'DEMOCL02'],
        statuses,
        clock,
        DEFAULT_STATUS_MAPPING.cancelledCodes,
      ),
    ).text;
  return [query([], false), query(['F', 'B'], true)];
}

/** What the statements touch, by table (SQLite spelling, upper case): reads, inserts, updates. */
function accesses(texts: Iterable<string>): { access: ColumnAccess; sql: string }[] {
  const out: { access: ColumnAccess; sql: string }[] = [];
  for (const sql of texts) for (const access of columnAccess(sql, schema)) out.push({ access, sql });
  return out;
}

const field = { read: 'reads', insert: 'inserts', update: 'updates' } as const;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'worker-grants-'));
  const path = join(dir, 'pas.db');
  pas = new SqlitePas({ path, timeZone: clock.zone });
  loadDemoDataSqlite(pas.db, generateDemoData({ timeZone: clock.zone }));
  schema = new Map();
  for (const { name } of pas.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]) {
    const columns = pas.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[];
    schema.set(name.toUpperCase(), new Set(columns.map((c) => c.name.toUpperCase())));
  }
  // The clerk has a connection of its own; only the adapter's connection is recorded.
  screens = await openPasScreens({ sqlitePath: path, timeZone: clock.zone });
  const prepare = pas.db.prepare.bind(pas.db);
  pas.db.prepare = ((source: string) => {
    if (recording && !/^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK)\b/i.test(source)) recording.add(source);
    return prepare(source);
  }) as typeof pas.db.prepare;
  recording = statements;
  await runWorkerPaths();
  recording = probeStatements;
  expect(await pas.checkSchema()).toEqual([]);
  recording = undefined;
});

afterAll(async () => {
  await screens?.close();
  await pas?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the worker login holds a grant for every column the worker SQL uses', () => {
  it('ran every kind of statement: UPDATEs of every table the worker changes, the registration row included', () => {
    const updated = new Set(accesses(statements).filter((a) => a.access.kind === 'update').map((a) => a.access.table));
    expect([...updated].sort()).toEqual(['APPOINTMENT', 'BOOKING_FHIR_APPOINTMENT', 'BOOKING_PATIENT_REGISTRATION', 'CLINIC_SLOT', 'PATIENT']);
  });

  it('every table and column each SELECT, INSERT and UPDATE touches, the start-up schema probe included, is in TABLES (so granted and checked by doctor)', () => {
    expect(probeStatements.size).toBe(TABLES.length);
    const problems = new Set<string>();
    // SQLite runs the read probes only (it has no grants); the write probes SQL Server runs are checked as SQL.
    const writeProbes = schemaProbes(sqliteDialect, true).filter((p) => p.access !== 'read').map((p) => p.sql);
    expect(writeProbes.length).toBeGreaterThan(0);
    for (const { access, sql } of accesses([...statements, ...probeStatements, ...writeProbes, ...mssqlSlotSearches()])) {
      const t = requirement.get(access.table);
      const statement = sql.replace(/\s+/g, ' ').trim().slice(0, 140);
      if (!t) problems.add(`${access.table} is not in TABLES: ${statement}`);
      else if (access.column !== '' && !t[field[access.kind]].map((c) => c.toUpperCase()).includes(access.column)) {
        problems.add(`${access.kind.toUpperCase()} ${t.name}.${access.column} is not in TABLES ${field[access.kind]}: ${statement}`);
      } else if (access.kind !== 'read' && t[field[access.kind]].length === 0) problems.add(`${access.kind.toUpperCase()} ${t.name}: TABLES grants none: ${statement}`);
    }
    expect([...problems]).toEqual([]);
  });

  it('TABLES grants no UPDATE or INSERT column the worker never writes (least privilege), and names no table it never uses', () => {
    const seen = accesses(statements);
    const used = (table: string, kind: 'insert' | 'update') => [...new Set(seen.filter((a) => a.access.table === table && a.access.kind === kind && a.access.column).map((a) => a.access.column))].sort();
    for (const t of TABLES) {
      const table = sqliteName(t.name);
      expect(used(table, 'update'), `${t.name} updates`).toEqual(t.updates.map((c) => c.toUpperCase()).sort());
      expect(used(table, 'insert'), `${t.name} inserts`).toEqual(t.inserts.map((c) => c.toUpperCase()).sort());
      expect(seen.some((a) => a.access.table === table), `${t.name} is used`).toBe(true);
    }
  });

  it('docs/install.md grants (3.2) and lists as updated (3.3) exactly what TABLES says', () => {
    const install = readFileSync(join(REPO_ROOT, 'docs/install.md'), 'utf8');
    const section = install.slice(install.indexOf('### 3.2 '), install.indexOf('### 3.3 '));
    expect(grantsIn(section, 'booking_worker')).toEqual(grantsNeeded());

    // The table of columns: its "updated" cell names the columns (what follows in brackets explains).
    for (const t of TABLES) {
      const row = install.split('\n').find((line) => line.startsWith(`| \`${t.name}\` |`));
      expect(row, t.name).toBeDefined();
      const updated = (row?.split('|')[4] ?? '').replace(/\([^)]*\)/g, '').match(/`[^`]*`/g) ?? [];
      const columns = updated.flatMap((cell) => cell.slice(1, -1).split(',')).map((c) => c.trim()).filter((c) => /^[A-Z][A-Z0-9_]+$/.test(c));
      expect(columns.sort(), `${t.name} updated`).toEqual([...t.updates].sort());
    }
  });
});
