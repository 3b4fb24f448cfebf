import { type IndexRequirement, INDEXES, TABLES } from '@booking/pas';
import type { PasConnection } from './pas-access.js';

/**
 * What a PAS holds of what the adapters need (@booking/pas TABLES and INDEXES: tables, the columns
 * read and written, the indexes the queries rely on), read from its catalogue, and the findings
 * doctor prints.
 */

/** What the database holds for one reference table. */
export interface CatalogEntry {
  /** The name it was found under (e.g. dbo.CLINIC_SLOT, booking_REQUEST_LOG). */
  actual: string;
  type: 'table' | 'view';
  columns: Set<string>;
  indexes: { name: string; unique: boolean; columns: string[]; included?: string[]; clustered?: boolean }[];
  /** SQL Server only: each column's declared type (INFORMATION_SCHEMA.COLUMNS). */
  columnTypes?: Map<string, ColumnType>;
  /** SQL Server only: the triggers on the object itself. */
  triggers?: TriggerInfo[];
}

export interface ColumnType {
  /** Lower case, as INFORMATION_SCHEMA.COLUMNS.DATA_TYPE gives it: varchar, datetime, … */
  type: string;
  /** Characters for character types (-1 = MAX); null otherwise. */
  length: number | null;
  collation: string | null;
}

export interface TriggerInfo {
  name: string;
  insteadOf: boolean;
  disabled: boolean;
}

export type Catalog = Map<string, CatalogEntry>;

export type SchemaFinding = { status: 'ok' | 'warn' | 'fail'; subject: string; message: string; fix?: string };

const up = (s: string) => s.toUpperCase();

/** The catalog of a SQLite PAS (product tables carry the booking_ prefix there). */
export async function sqliteCatalog(pas: PasConnection): Promise<Catalog> {
  const objects = (await pas.query(`SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')`)) as { name: string; type: string }[];
  const catalog: Catalog = new Map();
  for (const t of TABLES) {
    const wanted = up(t.product ? t.name.replace('booking.', 'booking_') : t.name);
    const found = objects.find((o) => up(o.name) === wanted);
    if (!found) continue;
    const q = found.name.replace(/'/g, "''");
    const columns = (await pas.query(`SELECT name, type, pk FROM pragma_table_info('${q}')`)) as { name: string; type: string; pk: number }[];
    const indexes: CatalogEntry['indexes'] = [];
    // An INTEGER PRIMARY KEY is the rowid: unique, indexed, and absent from index_list.
    const pk = columns.filter((c) => c.pk > 0);
    if (pk.length === 1 && up(pk[0]?.type ?? '') === 'INTEGER') indexes.push({ name: 'rowid', unique: true, columns: [up(pk[0]?.name ?? '')] });
    if (found.type === 'table') {
      for (const ix of (await pas.query(`SELECT name, "unique" AS u FROM pragma_index_list('${q}')`)) as { name: string; u: number }[]) {
        const cols = (await pas.query(`SELECT name FROM pragma_index_info('${ix.name.replace(/'/g, "''")}') ORDER BY seqno`)) as { name: string | null }[];
        indexes.push({ name: ix.name, unique: ix.u === 1, columns: cols.map((c) => up(c.name ?? '(expression)')) });
      }
    }
    catalog.set(t.name, { actual: found.name, type: found.type === 'view' ? 'view' : 'table', columns: new Set(columns.map((c) => up(c.name))), indexes });
  }
  return catalog;
}

/**
 * The catalog of a SQL Server PAS. Legacy tables resolve as the adapter's unqualified names do:
 * the login's default schema first, then dbo. Only objects the login may see are listed, which is
 * the point: the worker's login must see them.
 */
export async function mssqlCatalog(pas: PasConnection): Promise<{ catalog: Catalog; defaultSchema: string }> {
  const defaultSchema = String((await pas.query('SELECT SCHEMA_NAME() AS s'))[0]?.s ?? 'dbo');
  const names = [...new Set(TABLES.map((t) => t.name.replace('booking.', '')))].map((n) => `'${n}'`).join(', ');
  const objects = (await pas.query(`SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, TABLE_TYPE AS t FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME IN (${names})`)) as { s: string; n: string; t: string }[];
  const columns = (await pas.query(
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, COLUMN_NAME AS c, DATA_TYPE AS t, CHARACTER_MAXIMUM_LENGTH AS len, COLLATION_NAME AS coll
       FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME IN (${names})`,
  )) as { s: string; n: string; c: string; t: string; len: number | null; coll: string | null }[];
  // Indexes by object and index id with their key and included columns; the name is only shown
  // (Babelfish stores it with a hash suffix, so nothing may depend on it).
  const indexRows = (await pas.query(
    `SELECT sc.name AS s, o.name AS n, i.index_id AS id, i.name AS ix, i.is_unique AS u, i.type AS ty,
            ic.key_ordinal AS k, ic.is_included_column AS inc, c.name AS c
       FROM sys.indexes i
       JOIN sys.objects o ON o.object_id = i.object_id
       JOIN sys.schemas sc ON sc.schema_id = o.schema_id
       JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
       JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
      WHERE o.name IN (${names}) AND i.type > 0
      ORDER BY sc.name, o.name, i.index_id, ic.is_included_column, ic.key_ordinal, c.name`,
  )) as { s: string; n: string; id: number; ix: string | null; u: boolean | number; ty: number; k: number; inc: boolean | number; c: string }[];
  const triggerRows = await optionalQuery(
    pas,
    `SELECT sc.name AS s, o.name AS n, t.name AS tr, t.is_instead_of_trigger AS io, t.is_disabled AS d
       FROM sys.triggers t
       JOIN sys.objects o ON o.object_id = t.parent_id
       JOIN sys.schemas sc ON sc.schema_id = o.schema_id
      WHERE o.name IN (${names})`,
  );

  const catalog: Catalog = new Map();
  for (const t of TABLES) {
    const [schemas, name] = t.product ? [['booking'], t.name.replace('booking.', '')] : [[defaultSchema, 'dbo'], t.name];
    const found = schemas.map((s) => objects.find((o) => up(o.s) === up(s) && up(o.n) === up(name))).find(Boolean);
    if (!found) continue;
    const same = (r: { s: string; n: string }) => up(r.s) === up(found.s) && up(r.n) === up(found.n);
    const indexes = new Map<number, CatalogEntry['indexes'][number]>();
    for (const r of indexRows.filter(same)) {
      const ix = indexes.get(r.id) ?? { name: r.ix ?? `index ${r.id}`, unique: r.u === true || r.u === 1, columns: [], included: [], clustered: r.ty === 1 };
      if (r.inc === true || r.inc === 1) ix.included?.push(up(r.c));
      else ix.columns.push(up(r.c));
      indexes.set(r.id, ix);
    }
    const mine = columns.filter(same);
    catalog.set(t.name, {
      actual: `${found.s}.${found.n}`,
      type: up(found.t) === 'VIEW' ? 'view' : 'table',
      columns: new Set(mine.map((c) => up(c.c))),
      indexes: [...indexes.values()],
      columnTypes: new Map(mine.map((c) => [up(c.c), { type: String(c.t).toLowerCase(), length: c.len === null ? null : Number(c.len), collation: c.coll }])),
      ...(triggerRows
        ? {
            triggers: (triggerRows as { s: string; n: string; tr: string; io: boolean | number; d: boolean | number }[])
              .filter(same)
              .map((r) => ({ name: r.tr, insteadOf: r.io === true || r.io === 1, disabled: r.d === true || r.d === 1 })),
          }
        : {}),
    });
  }
  return { catalog, defaultSchema };
}

/** A catalogue query some engines may not offer (an older Babelfish): undefined instead of failing doctor. */
async function optionalQuery(pas: PasConnection, text: string): Promise<Record<string, unknown>[] | undefined> {
  try {
    return await pas.query(text);
  } catch {
    return undefined;
  }
}

/** Does some index serve the requirement? Unique needs exactly those key columns, unique. */
function served(req: IndexRequirement, entry: CatalogEntry): boolean {
  const want = req.columns.map(up);
  return entry.indexes.some((ix) =>
    req.unique
      ? ix.unique && ix.columns.length === want.length && want.every((c) => ix.columns.includes(c))
      : want.every((c, i) => ix.columns[i] === c),
  );
}

/** Compares a catalog with the requirements: one finding per missing table, column or index. */
export function checkCatalog(catalog: Catalog, kind: 'sqlite' | 'mssql'): SchemaFinding[] {
  const findings: SchemaFinding[] = [];
  const display = (name: string) => (kind === 'sqlite' ? name.replace('booking.', 'booking_') : name);
  const bookingScript = kind === 'sqlite' ? 'adapters/pas/sql/sqlite-schema.sql' : 'docker/pas/02-booking-schema.sql';
  for (const t of TABLES) {
    const entry = catalog.get(t.name);
    if (!entry) {
      findings.push({
        status: 'fail',
        subject: display(t.name),
        message: `table ${display(t.name)} is missing (or the login cannot see it)`,
        fix: t.product ? `create the product's tables: run ${bookingScript}` : `provide ${t.name} (a table or a view over the trust's own table; see docs/install.md)`,
      });
      continue;
    }
    const needed = [...new Set([...t.reads, ...t.inserts, ...t.updates])];
    const missing = needed.filter((c) => !entry.columns.has(up(c)));
    if (missing.length > 0) {
      findings.push({ status: 'fail', subject: display(t.name), message: `${entry.actual} lacks column(s) ${missing.join(', ')}`, fix: 'add the columns, or map them in the view (docs/install.md lists what is read and written)' });
    } else {
      findings.push({ status: 'ok', subject: display(t.name), message: `${entry.actual}${entry.type === 'view' ? ' (view)' : ''}: ${needed.length} columns present` });
    }
  }
  for (const req of INDEXES) {
    const entry = catalog.get(req.table);
    if (!entry) continue; // reported above
    const what = `${req.unique ? 'unique index' : 'index'} on ${display(req.table)} (${req.columns.join(', ')})`;
    if (entry.type === 'view') {
      findings.push({ status: 'warn', subject: display(req.table), message: `cannot check the ${what}: ${entry.actual} is a view`, fix: `make sure its base table has it (${req.why})` });
    } else if (!served(req, entry)) {
      findings.push({ status: 'fail', subject: display(req.table), message: `missing ${what}: ${req.why}`, fix: `CREATE ${req.unique ? 'UNIQUE ' : ''}INDEX … ON ${entry.actual} (${req.columns.join(', ')})` });
    }
  }
  return findings;
}

/** SQL Server: the worker login's grants, per table and column (column-level grants count). */
export async function mssqlPermissionFindings(pas: PasConnection, catalog: Catalog): Promise<SchemaFinding[]> {
  const checks: { table: string; object: string; permission: string; column?: string }[] = [];
  for (const t of TABLES) {
    const entry = catalog.get(t.name);
    if (!entry) continue;
    for (const column of t.reads) checks.push({ table: t.name, object: entry.actual, permission: 'SELECT', column });
    if (t.inserts.length > 0) checks.push({ table: t.name, object: entry.actual, permission: 'INSERT' });
    for (const column of t.updates) checks.push({ table: t.name, object: entry.actual, permission: 'UPDATE', column });
  }
  if (checks.length === 0) return [];
  const lit = (s: string) => `N'${s.replace(/'/g, "''")}'`;
  const values = checks.map((c) => `(${lit(c.object)}, ${lit(c.permission)}, ${c.column ? lit(c.column) : 'NULL'})`).join(',\n');
  const rows = (await pas.query(
    `SELECT v.o AS o, v.p AS p, v.c AS c,
            CASE WHEN v.c IS NULL THEN HAS_PERMS_BY_NAME(v.o, 'OBJECT', v.p) ELSE HAS_PERMS_BY_NAME(v.o, 'OBJECT', v.p, v.c, 'COLUMN') END AS g
       FROM (VALUES ${values}) AS v(o, p, c)`,
  )) as { o: string; p: string; c: string | null; g: number | null }[];
  const denied = new Map<string, string[]>();
  for (const r of rows.filter((r) => r.g !== 1)) {
    const key = `${r.p} on ${r.o}`;
    denied.set(key, [...(denied.get(key) ?? []), ...(r.c ? [r.c] : [])]);
  }
  const findings: SchemaFinding[] = [...denied].map(([what, cols]) => ({
    status: 'fail' as const,
    subject: what.split(' on ')[1] ?? what,
    message: `the login lacks ${what}${cols.length ? ` (${cols.join(', ')})` : ''}`,
    fix: 'GRANT it to the worker\u2019s login (docs/install.md has the script)',
  }));
  if (findings.length === 0) findings.push({ status: 'ok', subject: 'permissions', message: `the login holds every grant the worker needs (${checks.length} checked)` });
  // More than it needs is worth saying too: the worker should not run as an owner.
  const power = (await pas.query(`SELECT IS_SRVROLEMEMBER('sysadmin') AS sa, IS_ROLEMEMBER('db_owner') AS dbo, SUSER_SNAME() AS login`))[0] as { sa: number | null; dbo: number | null; login: string };
  if (power.sa === 1 || power.dbo === 1) {
    findings.push({ status: 'warn', subject: 'permissions', message: `login ${power.login} is ${power.sa === 1 ? 'sysadmin' : 'db_owner'}`, fix: 'give the worker a least-privilege login (docs/install.md)' });
  }
  return findings;
}
