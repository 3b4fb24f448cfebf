import sql, { type ConnectionPool, type Request, type Transaction } from 'mssql';
import { TransientPasError } from '../port.js';
import { lockWaitMs, mssqlDialect, type Params, type PasDatabase, type PasSession, type TxOptions, type TxOutcome, UnexpectedRowCount, upperKeys } from '../session.js';
import { isTransientMssqlError } from './errors.js';
import { wallClock } from './values.js';

export { mssqlDialect };

/** Names of the output parameters that carry row counts and new ids (never a caller's name). */
export const ROWCOUNT_PARAM = 'pas_rowcount';
export const IDENTITY_PARAM = 'pas_identity';

/**
 * A statement followed by the capture of its own row count into an output parameter, in the same
 * batch, before anything else can run. A legacy AFTER trigger may return rows of its own or run
 * statements with counts; neither reaches an output parameter, so the count cannot be misread.
 */
export function withRowCount(statement: string): string {
  return `${statement};\nSET @${ROWCOUNT_PARAM} = @@ROWCOUNT;`;
}

/**
 * An INSERT followed by its row count and SCOPE_IDENTITY() (this scope only: a trigger's inserts do
 * not count; the SET of the count leaves it as it is). An INSERT … SELECT may add no row.
 */
export function withIdentity(statement: string): string {
  return `${withRowCount(statement)}\nSET @${IDENTITY_PARAM} = CAST(SCOPE_IDENTITY() AS INT);`;
}

/**
 * The batch run right after BEGIN TRANSACTION on the transaction's connection, as a plain batch
 * (see MssqlDatabase.transaction): abort the whole
 * transaction on any error (tedious leaves XACT_ABORT off; an attention then leaves it open),
 * bound lock waits so they surface as error 1222 (retried) instead of hanging until the request
 * timeout, and report @@TRANCOUNT, which must be exactly 1: more means the pooled connection
 * still held someone's transaction.
 */
export function transactionPreamble(lockTimeoutMs: number): string {
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0) throw new Error('lock timeout must be a whole number of ms');
  return `SET XACT_ABORT ON; SET LOCK_TIMEOUT ${lockTimeoutMs}; SELECT @@TRANCOUNT AS TRANCOUNT;`;
}

/** Binds a typed parameter: values written travel as NVARCHAR; WHERE keys keep the VARCHAR type. */
export function bind(request: Request, name: string, p: Params[string]): void {
  const v = p.value;
  switch (p.type) {
    case 'int':
      request.input(name, sql.Int, v);
      break;
    case 'key':
      request.input(name, sql.VarChar(Math.max(p.width ?? 1, typeof v === 'string' ? v.length : 0)), v);
      break;
    case 'text':
      request.input(name, sql.NVarChar(typeof v === 'string' && v.length > 4000 ? sql.MAX : 4000), v);
      break;
    case 'local':
      request.input(name, sql.DateTime, v === null ? null : wallClock(String(v)));
      break;
    case 'utc':
      request.input(name, sql.DateTime2(3), v === null ? null : new Date(String(v)));
      break;
    case 'asRead':
      // The ISO text of the Date the DATETIME column was read as: the same instant, to the millisecond.
      request.input(name, sql.DateTime, v === null ? null : new Date(String(v)));
      break;
    case 'guid':
      request.input(name, sql.UniqueIdentifier, v);
      break;
    case 'json':
      request.input(name, sql.NVarChar(sql.MAX), v);
      break;
  }
}

type Runner = ConnectionPool | Transaction;

function session(runner: Runner): PasSession {
  const request = (text: string, params?: Params) => {
    const r = runner.request();
    for (const name of new Set((text.match(/@\w+/g) ?? []).map((n) => n.slice(1)))) {
      const p = params?.[name];
      if (p) bind(r, name, p);
    }
    return r;
  };
  return {
    dialect: mssqlDialect,
    async query<T>(text: string, params?: Params) {
      const result = await request(text, params).query(text);
      return (result.recordset ?? []).map((row) => upperKeys<T>(row));
    },
    async execute(text: string, params?: Params) {
      const r = request(text, params).output(ROWCOUNT_PARAM, sql.Int);
      const result = await r.query(withRowCount(text));
      return Number(result.output[ROWCOUNT_PARAM] ?? -1);
    },
    async insertId(text: string, params?: Params) {
      const r = request(text, params).output(ROWCOUNT_PARAM, sql.Int).output(IDENTITY_PARAM, sql.Int);
      const result = await r.query(withIdentity(text));
      const rows = Number(result.output[ROWCOUNT_PARAM] ?? -1);
      if (rows === 0) return undefined;
      if (rows !== 1) throw new UnexpectedRowCount('inserting one row', 1, rows);
      const id = result.output[IDENTITY_PARAM];
      if (typeof id !== 'number') throw new Error('INSERT gave no identity value');
      return id;
    },
  };
}

interface TediousConnection {
  close(): void;
  hasError?: boolean;
}

/** The tedious connection a transaction holds (mssql keeps it private). */
function heldConnection(tx: Transaction): TediousConnection | undefined {
  return (tx as unknown as { _acquiredConnection?: TediousConnection | null })._acquiredConnection ?? undefined;
}

/** Never lend this connection out again: the pool's validation drops closed or failed connections. */
function discard(connection: TediousConnection | undefined): void {
  if (!connection) return;
  connection.hasError = true;
  try {
    connection.close();
  } catch {
    // already closing
  }
}

export class MssqlDatabase implements PasDatabase {
  readonly dialect = mssqlDialect;

  constructor(
    readonly pool: ConnectionPool,
    private readonly lockTimeoutMs: number,
  ) {}

  read<T>(work: (s: PasSession) => Promise<T>): Promise<T> {
    return guard(() => work(session(this.pool)));
  }

  transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options: TxOptions = {}): Promise<T> {
    return guard(async () => {
      const tx = this.pool.transaction();
      await tx.begin(sql.ISOLATION_LEVEL.READ_COMMITTED);
      const connection = heldConnection(tx);
      let outcome: TxOutcome<T>;
      // Lock waits end by the write's deadline too (the repository checks it again before COMMIT).
      const lockWait = lockWaitMs(this.lockTimeoutMs, options.deadline, (options.now ?? Date.now)());
      // SET LOCK_TIMEOUT holds for the connection's session: a connection whose wait was cut short
      // for a write near its deadline is not lent out again, or later reads and writes would inherit it.
      const shortened = lockWait < this.lockTimeoutMs;
      try {
        // A plain batch (tedious execSqlBatch), never query(): that is sp_executesql, and SET options
        // set inside it are restored when it returns. Set here, they hold for the rest of the
        // connection's session, every statement of this transaction included.
        const preamble = await tx.request().batch(transactionPreamble(lockWait));
        const state = preamble.recordset?.[0] ? upperKeys<{ TRANCOUNT: number }>(preamble.recordset[0]) : undefined;
        if (state?.TRANCOUNT !== 1) {
          discard(connection);
          throw new TransientPasError(`a pooled SQL Server connection was already in a transaction (@@TRANCOUNT ${state?.TRANCOUNT}); it was discarded`);
        }
        outcome = await work(session(tx));
      } catch (error) {
        await endTransaction(tx, connection, 'rollback');
        if (shortened) discard(connection);
        throw error;
      }
      try {
        await endTransaction(tx, connection, outcome.commit ? 'commit' : 'rollback', outcome.commit);
      } finally {
        if (shortened) discard(connection);
      }
      return outcome.value;
    });
  }

  isDuplicateKey(error: unknown): boolean {
    return isMssqlDuplicateKey(error);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * Commits or rolls back. When that fails, the server may still hold the transaction open on the
 * connection (or may not: XACT_ABORT or a deadlock ended it): either way the connection is closed,
 * never lent out again. A failed commit is rethrown (the outcome is unknown: the replay check on
 * retry finds a write that did commit); a failed rollback after another error is not.
 */
async function endTransaction(tx: Transaction, connection: TediousConnection | undefined, how: 'commit' | 'rollback', rethrow = false): Promise<void> {
  try {
    if (how === 'commit') await tx.commit();
    else await tx.rollback();
  } catch (error) {
    // mssql has already released the connection to the pool; closing it makes validation drop it.
    // An aborted transaction (XACT_ABORT) has released it the same way.
    discard(connection);
    if (rethrow) throw error;
  }
}

/** Maps transient failures to TransientPasError (the worker retries those); everything else rethrows. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof TransientPasError) throw error;
    if (isTransientMssqlError(error)) {
      throw new TransientPasError(`SQL Server PAS unavailable for now: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
}

export function isMssqlDuplicateKey(error: unknown): boolean {
  let e: unknown = error;
  for (let i = 0; i < 6 && e && typeof e === 'object'; i++) {
    const n = (e as { number?: unknown }).number;
    if (n === 2627 || n === 2601) return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}
