import type { Env } from '@booking/config';
import { DEFAULT_STATUS_MAPPING_TEXT, parseStatusMapping } from '@booking/pas';
import { workerSchema } from '@booking/worker/config';
import type { PasConnection } from './pas-access.js';
import type { Catalog, CatalogEntry, ColumnType, SchemaFinding } from './pas-schema.js';
import { settingValue } from './settings.js';

/**
 * What breaks a mapping of a trust's PAS onto the reference schema, beyond names (pas-schema.ts):
 * column types that change conversions and index seeks, status codes the mapping does not know,
 * triggers that falsify the row counts the guards rely on, and the slot search's covering index.
 * The decisions are pure functions over catalogue rows (unit-tested); the queries that fetch
 * those rows work alike on SQL Server, Azure SQL and Babelfish (by object, never by index name).
 */

const up = (s: string) => s.toUpperCase();

// ---------------------------------------------------------------------------------------------
// Column types

type Kind = 'datetime' | 'int' | 'guid' | 'text';

/** Integer keys the adapter binds as INT. */
const INT_COLUMNS = new Set(['SLOT_ID', 'PATIENT_ID', 'APPT_ID']);

/** What the adapter sends for a reference column: DATETIME, INT, UNIQUEIDENTIFIER or VARCHAR. */
export function expectedKind(column: string): Kind {
  const c = up(column);
  if (c.endsWith('_DTTM') || c === 'DOB') return 'datetime';
  if (INT_COLUMNS.has(c)) return 'int';
  if (c === 'SLOT_GUID') return 'guid';
  return 'text';
}

/** Code columns the adapter writes, and the width the values it writes need. */
const WRITTEN_WIDTHS: Record<string, number> = {
  'CLINIC_SLOT.SLOT_STATUS': 1,
  'APPOINTMENT.APPT_STATUS': 1,
  'APPOINTMENT.SOURCE_CODE': 4,
  'PATIENT.HOSP_NO': 10,
  'PATIENT.NHS_NO': 10,
  'PATIENT.REG_TYPE': 1,
  'PATIENT.SEX': 1,
};

/** Free text the adapter writes from what consumers send (names can be Welsh, Irish, …). */
const FREE_TEXT = new Set(['PATIENT.TITLE', 'PATIENT.FORENAMES', 'PATIENT.SURNAME', 'PATIENT.ADDR_LINE1', 'PATIENT.ADDR_LINE2', 'APPOINTMENT.REASON']);

const TEXT_TYPES = new Set(['char', 'varchar', 'nchar', 'nvarchar']);

function typeName(t: ColumnType): string {
  return t.length === null ? t.type.toUpperCase() : `${t.type.toUpperCase()}(${t.length === -1 ? 'MAX' : t.length})`;
}

/** The verdict on one column's declared type; undefined when it is what the adapter expects. */
export function columnTypeVerdict(table: string, column: string, t: ColumnType): { status: 'warn' | 'fail'; message: string; fix: string } | undefined {
  const type = t.type.toLowerCase();
  const where = `${table}.${column} is ${typeName(t)}`;
  switch (expectedKind(column)) {
    case 'datetime':
      if (type === 'datetime') return undefined;
      if (type === 'smalldatetime')
        return {
          status: 'warn',
          message: `${where}, not DATETIME: the adapter's DATETIME parameters outrank it, so the column side is converted in every comparison (range seeks on it degrade) and times are kept to the minute only`,
          fix: 'map it as CAST(… AS DATETIME) in a view for reads, or accept minute precision and check slot searches with `booking-facade smoke`',
        };
      if (type === 'datetime2')
        return {
          status: 'warn',
          message: `${where}, not DATETIME: the adapter's DATETIME parameters are converted to DATETIME2 (seeks hold), but DATETIME's 1/300 s rounding then compares inexactly at the same instant (compatibility level 130+)`,
          fix: 'fine for whole-second times (the PAS and the adapter write those); otherwise map it as CAST(… AS DATETIME) in a view',
        };
      if (type === 'datetimeoffset')
        return { status: 'fail', message: `${where}: the adapter reads and writes local wall-clock times without offset`, fix: 'map it in a view as CONVERT(DATETIME, col AT TIME ZONE \u2026) for reads; it cannot be written through such a view' };
      return { status: 'fail', message: `${where}: the adapter needs a date and time of day (DATETIME)`, fix: 'map a DATETIME column, or a view converting it' };
    case 'int':
      if (type === 'int') return undefined;
      if (['bigint', 'smallint', 'tinyint', 'numeric', 'decimal'].includes(type))
        return { status: 'warn', message: `${where}, not INT: the adapter binds INT parameters; ids beyond INT's range cannot be read or matched`, fix: 'map it as CAST(… AS INT) in a view if every id fits, or talk to us' };
      return { status: 'fail', message: `${where}: the adapter needs an integer key (INT IDENTITY)`, fix: 'map an INT IDENTITY column (docs/install.md 3.3)' };
    case 'guid':
      if (type === 'uniqueidentifier') return undefined;
      if (TEXT_TYPES.has(type))
        return {
          status: 'warn',
          message: `${where}, not UNIQUEIDENTIFIER: the adapter's UNIQUEIDENTIFIER parameter outranks it, so every booking's slot look-up converts the column and scans instead of seeking`,
          fix: 'add a UNIQUEIDENTIFIER column (a persisted computed TRY_CONVERT column, indexed) and map SLOT_GUID to it',
        };
      return { status: 'fail', message: `${where}: the slot identifier consumers send back must be a UUID (UNIQUEIDENTIFIER)`, fix: 'map a UNIQUEIDENTIFIER column' };
    case 'text': {
      if (!TEXT_TYPES.has(type)) return { status: 'fail', message: `${where}: the adapter reads and writes it as text (CHAR/VARCHAR)`, fix: 'map it as CAST(… AS VARCHAR(n)) in a view (read-only columns), or map a character column' };
      const need = WRITTEN_WIDTHS[`${table}.${column}`];
      if (need !== undefined && t.length !== null && t.length !== -1 && t.length < need)
        return { status: 'fail', message: `${where}: the adapter writes values of ${need} character(s) into it`, fix: `widen it to at least ${need}, or map another column` };
      if (type === 'nchar' || type === 'nvarchar')
        return FREE_TEXT.has(`${table}.${column}`)
          ? undefined // Unicode is what free text wants
          : {
              status: 'warn',
              message: `${where}, not CHAR/VARCHAR: the adapter types its parameters for it as VARCHAR; SQL Server widens them (seeks hold), but a join to a VARCHAR column of another table converts that side`,
              fix: 'fine if the queries stay fast (`npm run bench` shape, or the slot search time in doctor\u2019s smoke); otherwise map it as CAST(… AS VARCHAR(n)) in a view',
            };
      if (FREE_TEXT.has(`${table}.${column}`) && t.collation && !/UTF8/i.test(t.collation))
        return {
          status: 'warn',
          message: `${where} in collation ${t.collation}: characters outside its code page (\u0175, \u0177 as in Ll\u0177r) are stored as '?'`,
          fix: 'make it NVARCHAR, or use a _UTF8 collation (SQL Server 2019+)',
        };
      return undefined;
    }
  }
}

/** One finding per column whose type changes conversions or seeks, plus one line when all are fine. */
export function columnTypeFindings(catalog: Catalog, tables: { name: string; product: boolean; reads: string[]; inserts: string[]; updates: string[] }[]): SchemaFinding[] {
  const findings: SchemaFinding[] = [];
  let checked = 0;
  for (const t of tables.filter((t) => !t.product)) {
    const entry = catalog.get(t.name);
    if (!entry?.columnTypes) continue;
    for (const column of new Set([...t.reads, ...t.inserts, ...t.updates])) {
      const type = entry.columnTypes.get(up(column));
      if (!type) continue; // a missing column is reported by checkCatalog
      checked++;
      const verdict = columnTypeVerdict(t.name, up(column), type);
      if (verdict) findings.push({ status: verdict.status, subject: t.name, message: verdict.message, fix: verdict.fix });
    }
  }
  if (checked > 0 && findings.length === 0) findings.push({ status: 'ok', subject: 'column types', message: `all ${checked} mapped legacy columns have the types the adapter binds` });
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Status codes

/** The reference codes (docs/pas.md); 'C' is the old cancelled code still read. */
export const DEFAULT_STATUS_CODES = { appointment: ['B', 'A', 'S', 'D', 'P', 'H', 'C'], slot: ['F', 'B', 'U', 'T', 'X'] } as const;

export interface StatusCodes {
  appointment: string[];
  slot: string[];
  /** Where they came from: the worker setting's name, or "defaults". */
  source: string;
}

/**
 * The status codes the worker is configured with: the appointment codes of its
 * PAS_APPOINTMENT_STATUS_MAP (the reference mapping when unset or invalid — the worker itself
 * refuses to start on an invalid one) and the slot codes the adapters read.
 */
export function configuredStatusCodes(env: Env): StatusCodes {
  const text = settingValue(workerSchema, 'PAS_APPOINTMENT_STATUS_MAP', env);
  const slot = [...DEFAULT_STATUS_CODES.slot];
  if (text === undefined || text === DEFAULT_STATUS_MAPPING_TEXT) return { appointment: [...DEFAULT_STATUS_CODES.appointment], slot, source: 'defaults' };
  try {
    return { appointment: [...parseStatusMapping(text).byCode.keys()], slot, source: 'PAS_APPOINTMENT_STATUS_MAP' };
  } catch {
    return { appointment: [...DEFAULT_STATUS_CODES.appointment], slot, source: 'defaults (PAS_APPOINTMENT_STATUS_MAP is invalid)' };
  }
}

export interface StoredCode {
  code: string | null;
  n: number;
}

/**
 * Compares the codes actually stored in a status column with the mapping, trimmed and ignoring
 * case as the adapter compares them. An unknown slot status fails (slot searches that meet one
 * cannot say what the slot is); an unknown appointment status warns (read the documented safe way).
 */
export function statusCodeFindings(column: 'APPOINTMENT.APPT_STATUS' | 'CLINIC_SLOT.SLOT_STATUS', stored: StoredCode[], codes: StatusCodes): SchemaFinding[] {
  const known = new Set((column === 'CLINIC_SLOT.SLOT_STATUS' ? codes.slot : codes.appointment).map((c) => up(c.trim())));
  const counts = new Map<string, number>();
  for (const r of stored) {
    const code = r.code === null ? '(NULL)' : up(r.code.trim());
    counts.set(code, (counts.get(code) ?? 0) + Number(r.n));
  }
  const unknown = [...counts].filter(([code]) => !known.has(code)).sort((a, b) => b[1] - a[1]);
  const subject = column.split('.')[0] as string;
  const mapping = codes.source === 'defaults' ? 'the reference codes' : `the mapping in ${codes.source}`;
  if (counts.size === 0) return [{ status: 'ok', subject, message: `${column}: no rows from the last 90 days to check against ${mapping}` }];
  if (unknown.length === 0) {
    return [{ status: 'ok', subject, message: `${column}: every stored code (${[...counts.keys()].sort().join(', ')}) is in ${mapping}` }];
  }
  const list = unknown.map(([code, n]) => `'${code}' (${n} row${n === 1 ? '' : 's'})`).join(', ');
  const slot = column === 'CLINIC_SLOT.SLOT_STATUS';
  return [
    {
      status: slot ? 'fail' : 'warn',
      subject,
      message: `${column} holds codes ${mapping} does not know: ${list}${slot ? '; a slot search meeting them cannot say what those slots are' : '; appointments with them are read the documented safe way and counted as unknown'}`,
      fix: `add them to the worker's status mapping${codes.source === 'defaults' ? '' : ` (${codes.source})`}, or correct the rows in the PAS`,
    },
  ];
}

/** The distinct codes of the two status columns, for rows from 90 days ago on (what the product meets). */
export async function storedStatusCodes(pas: PasConnection, catalog: Catalog): Promise<{ column: 'APPOINTMENT.APPT_STATUS' | 'CLINIC_SLOT.SLOT_STATUS'; rows: StoredCode[] }[]> {
  const since = pas.kind === 'mssql' ? 'DATEADD(DAY, -90, GETDATE())' : `datetime('now', '-90 days')`;
  const out: { column: 'APPOINTMENT.APPT_STATUS' | 'CLINIC_SLOT.SLOT_STATUS'; rows: StoredCode[] }[] = [];
  for (const full of ['CLINIC_SLOT.SLOT_STATUS', 'APPOINTMENT.APPT_STATUS'] as const) {
    const [table, column] = full.split('.') as [string, string];
    const entry = catalog.get(table);
    if (!entry?.columns.has(column) || !entry.columns.has('START_DTTM')) continue;
    const rows = await pas.query(`SELECT ${column} AS code, COUNT(*) AS n FROM ${table} WHERE START_DTTM >= ${since} GROUP BY ${column}`);
    out.push({ column: full, rows: rows.map((r) => ({ code: r.code === null || r.code === undefined ? null : String(r.code), n: Number(r.n) })) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Triggers

/** Tables the adapter writes: an INSTEAD OF trigger there replaces its statements. */
const WRITTEN_TABLES = new Set(['CLINIC_SLOT', 'PATIENT', 'APPOINTMENT']);

export function triggerFindings(catalog: Catalog): SchemaFinding[] {
  const findings: SchemaFinding[] = [];
  for (const [name, entry] of catalog) {
    if (name.startsWith('booking.')) continue;
    if (!entry.triggers) {
      if (WRITTEN_TABLES.has(name)) findings.push({ status: 'warn', subject: name, message: `could not list the triggers on ${entry.actual} (sys.triggers not readable)`, fix: 'check by hand that no INSTEAD OF trigger sits on it' });
      continue;
    }
    const active = entry.triggers.filter((t) => !t.disabled);
    const insteadOf = active.filter((t) => t.insteadOf);
    if (insteadOf.length > 0) {
      findings.push({
        status: WRITTEN_TABLES.has(name) ? 'fail' : 'warn',
        subject: name,
        message: `${entry.actual}${entry.type === 'view' ? ' (view)' : ''} has INSTEAD OF trigger(s) ${insteadOf.map((t) => t.name).join(', ')}: the row counts the adapter checks (a taken slot, a moved appointment) and SCOPE_IDENTITY() then come from the trigger's statements, not the adapter's`,
        fix: 'map with plain updatable views (docs/install.md 3.3), or prove the mapping with the contract suite on a copy of the PAS first',
      });
    }
    const after = active.filter((t) => !t.insteadOf);
    if (after.length > 0 && WRITTEN_TABLES.has(name)) {
      findings.push({ status: 'ok', subject: name, message: `${entry.actual} has AFTER trigger(s) ${after.map((t) => t.name).join(', ')}: fine as long as they return no rows (SET NOCOUNT ON, no SELECT): a result set from a trigger is one more thing the adapter has to look past` });
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// The slot search's covering index

export const SLOT_SEARCH_KEYS = ['CLINIC_CODE', 'START_DTTM'];
export const SLOT_SEARCH_INCLUDE = ['SLOT_STATUS', 'SLOT_GUID', 'END_DTTM', 'CONTACT_TYPE'];

function covers(ix: CatalogEntry['indexes'][number], clusteredKeys: string[]): boolean {
  if (!SLOT_SEARCH_KEYS.every((c, i) => ix.columns[i] === c)) return false;
  // A nonclustered index carries the clustered key too; a clustered index carries every column.
  if (ix.clustered) return true;
  const carried = new Set([...ix.columns, ...(ix.included ?? []), ...clusteredKeys]);
  return [...SLOT_SEARCH_INCLUDE, 'SLOT_ID'].every((c) => carried.has(c));
}

/** SQL Server: recommends the covering index for the slot search when CLINIC_SLOT lacks one. */
export function slotSearchIndexFindings(catalog: Catalog): SchemaFinding[] {
  const entry = catalog.get('CLINIC_SLOT');
  if (!entry) return [];
  const wanted = `(${SLOT_SEARCH_KEYS.join(', ')}) INCLUDE (${SLOT_SEARCH_INCLUDE.join(', ')})`;
  if (entry.type === 'view') {
    return [{ status: 'warn', subject: 'CLINIC_SLOT', message: `cannot check the slot search's covering index: ${entry.actual} is a view`, fix: `give its base table an index on the mapped columns ${wanted}` }];
  }
  const clusteredKeys = entry.indexes.find((ix) => ix.clustered)?.columns ?? [];
  if (entry.indexes.some((ix) => covers(ix, clusteredKeys))) return [{ status: 'ok', subject: 'CLINIC_SLOT', message: `the slot search's covering index ${wanted} is present` }];
  return [
    {
      status: 'warn',
      subject: 'CLINIC_SLOT',
      message: `no covering index for the slot search ${wanted}: each slot found costs a key look-up`,
      fix: `CREATE INDEX IX_CLINIC_SLOT_SEARCH ON ${entry.actual} (${SLOT_SEARCH_KEYS.join(', ')}) INCLUDE (${SLOT_SEARCH_INCLUDE.join(', ')});`,
    },
  ];
}
