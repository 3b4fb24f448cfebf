import { TransientPasError } from './port.js';

/**
 * The small interface every PAS transaction is written against, once, for both adapters.
 *
 * SQL text uses `@name` parameters (better-sqlite3 and mssql both bind them) and asks the dialect
 * for the few things that differ: where the product's tables live, row limits, how a legacy code
 * is compared. Each parameter carries a type hint: SQL Server needs it (VARCHAR keys for index
 * seeks, DATETIME wall-clock values, NVARCHAR for what is written), SQLite ignores it.
 */

export type SqlType =
  /** INT key or count. */
  | 'int'
  /** A VARCHAR/CHAR value in a WHERE clause: sent as the column's type so indexes seek. */
  | 'key'
  /** A value written to a legacy or product column: NVARCHAR on SQL Server (no code-page loss). */
  | 'text'
  /** A legacy local wall-clock datetime 'YYYY-MM-DD HH:MM:SS'. */
  | 'local'
  /** A UTC instant (ISO-8601) for the product's own tables. */
  | 'utc'
  /**
   * A legacy datetime exactly as a query returned it, to find the column unchanged: SQLite's text
   * as it is; a SQL Server DATETIME read as a Date (useUTC: its UTC fields are the wall clock),
   * sent back as a DATETIME to the same 1/300 s.
   */
  | 'asRead'
  /** A slot GUID. */
  | 'guid'
  /** Long JSON text. */
  | 'json';

export interface SqlParam {
  type: SqlType;
  value: string | number | null;
  /** The column width of a 'key' (the declared parameter is at least this wide). */
  width?: number;
}

export type Params = Record<string, SqlParam>;

/** Parameter constructors: `{ id: sqlp.int(5), code: sqlp.key('ABC', 8) }`. */
export const sqlp = {
  int: (value: number | null): SqlParam => ({ type: 'int', value }),
  key: (value: string | null, width: number): SqlParam => ({ type: 'key', value, width }),
  text: (value: string | null): SqlParam => ({ type: 'text', value }),
  local: (value: string | null): SqlParam => ({ type: 'local', value }),
  utc: (value: string | null): SqlParam => ({ type: 'utc', value }),
  asRead: (value: string | Date | null): SqlParam => ({ type: 'asRead', value: value instanceof Date ? value.toISOString() : value }),
  guid: (value: string | null): SqlParam => ({ type: 'guid', value }),
  json: (value: string): SqlParam => ({ type: 'json', value }),
};

export interface Dialect {
  readonly name: 'sqlite' | 'mssql';
  /** A product table: booking.X on SQL Server, booking_X in SQLite. */
  booking(table: string): string;
  /** `SELECT ${top(n)} …` — TOP (n) on SQL Server, nothing in SQLite. */
  top(n: string): string;
  /** `… ${limit(n)}` — LIMIT n in SQLite, nothing on SQL Server. */
  limit(n: string): string;
}

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  booking: (table) => `booking_${table}`,
  top: () => '',
  limit: (n) => `LIMIT ${n}`,
};

export const mssqlDialect: Dialect = {
  name: 'mssql',
  booking: (table) => `booking.${table}`,
  top: (n) => `TOP (${n})`,
  limit: () => '',
};

/**
 * A legacy code column compared trimmed and case-insensitively. LTRIM/RTRIM and UPPER mean the same
 * in every dialect (SQLite, SQL Server, Babelfish), so the consistency check's raw SQL uses it too.
 */
export function legacyCode(column: string): string {
  return `UPPER(LTRIM(RTRIM(${column})))`;
}

/** SQL literal list of codes for IN (…); codes come from validated configuration only. */
export function codeList(codes: readonly string[]): string {
  return codes.map((c) => `'${c.replace(/'/g, "''")}'`).join(', ');
}

export interface PasSession {
  readonly dialect: Dialect;
  /** Rows with upper-case column names, whatever case the engine reports them in. */
  query<T>(sql: string, params?: Params): Promise<T[]>;
  /**
   * Runs one INSERT, UPDATE or DELETE and returns that statement's own row count, captured
   * immediately after it (triggers' counts and result sets cannot change it).
   */
  execute(sql: string, params?: Params): Promise<number>;
  /**
   * Runs one INSERT of at most one row into a table with an identity key and returns the new key
   * (SCOPE_IDENTITY), or undefined when it inserted none (an INSERT … SELECT whose condition found
   * no row); more than one row throws UnexpectedRowCount.
   */
  insertId(sql: string, params?: Params): Promise<number | undefined>;
}

/** What a transaction decided: commit, or roll back (every outcome other than success). */
export interface TxOutcome<T> {
  commit: boolean;
  value: T;
}

export const commit = <T>(value: T): TxOutcome<T> => ({ commit: true, value });
export const rollback = <T>(value: T): TxOutcome<T> => ({ commit: false, value });

/** How one transaction may wait. */
export interface TxOptions {
  /** Epoch ms: lock waits (SQLite's busy wait, SQL Server's LOCK_TIMEOUT) end by then at the latest. */
  deadline?: number;
  /** The clock `deadline` is read on; Date.now when absent. */
  now?: () => number;
}

/** A lock wait of at most `limitMs`, cut to the whole ms left before `deadline` (0 when none: try once, do not wait). */
export function lockWaitMs(limitMs: number, deadline: number | undefined, now = Date.now()): number {
  if (deadline === undefined) return limitMs;
  return Math.max(0, Math.min(limitMs, Math.floor(deadline - now)));
}

export interface PasDatabase {
  readonly dialect: Dialect;
  /** One write transaction; committed only when `work` says so, rolled back on anything else. */
  transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options?: TxOptions): Promise<T>;
  /** Reads outside a transaction (each statement sees committed rows). */
  read<T>(work: (s: PasSession) => Promise<T>): Promise<T>;
  /** A primary-key or unique violation (a concurrent twin of a write committed first). */
  isDuplicateKey(error: unknown): boolean;
  close(): Promise<void>;
}

/** Upper-cases a row's column names: some engines (Babelfish versions) report aliases lower-cased. */
export function upperKeys<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(row)) out[key.toUpperCase()] = row[key];
  return out as T;
}

/**
 * Thrown inside a transaction when a statement changed an unexpected number of rows: the whole
 * transaction rolls back. It is transient: a row changed under us (a clerk, another worker), and
 * the retry decides again from the rows as they are then.
 */
export class UnexpectedRowCount extends TransientPasError {
  constructor(what: string, expected: number, actual: number) {
    super(`${what}: expected ${expected} row(s) changed, got ${actual}; the transaction was rolled back`);
  }
}

/** Runs an INSERT that must add exactly one row and returns its new key, else throws (rolling everything back). */
export async function insertedId(s: PasSession, what: string, sql: string, params?: Params): Promise<number> {
  const id = await s.insertId(sql, params);
  if (id === undefined) throw new UnexpectedRowCount(what, 1, 0);
  return id;
}

/** Runs a statement that must change exactly `expected` rows, else throws (rolling everything back). */
export async function exactly(s: PasSession, expected: number, what: string, sql: string, params?: Params): Promise<void> {
  const n = await s.execute(sql, params);
  if (n !== expected) throw new UnexpectedRowCount(what, expected, n);
}
