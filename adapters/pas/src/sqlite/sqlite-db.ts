import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { TransientPasError } from '../port.js';
import { lockWaitMs, type Params, type PasDatabase, type PasSession, sqliteDialect, type TxOptions, type TxOutcome, UnexpectedRowCount, upperKeys } from '../session.js';

export { sqliteDialect };

/**
 * The SQLite side of the session interface. One connection per process; its statements are
 * serialised by a promise chain, so an async transaction never has another job's statements run
 * inside it. Write transactions are BEGIN IMMEDIATE (the file's write lock is taken first, so two
 * processes never interleave inside one booking), acquired without blocking the event loop.
 */
export class SqliteDatabase implements PasDatabase {
  readonly dialect = sqliteDialect;
  private queue: Promise<unknown> = Promise.resolve();
  /** Compiled statements of this connection (tests empty it to see every statement prepared). */
  readonly statements: Map<string, Database.Statement> = new Map();
  private readonly session: PasSession;

  constructor(
    readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {
    const bind = (sql: string, params?: Params) => {
      if (!params) return {};
      const out: Record<string, string | number | null> = {};
      for (const name of sql.match(/@\w+/g) ?? []) {
        const p = params[name.slice(1)];
        if (p) out[name.slice(1)] = p.value;
      }
      return out;
    };
    this.session = {
      dialect: sqliteDialect,
      query: async <T>(sql: string, params?: Params) => (this.prepare(sql).all(bind(sql, params)) as Record<string, unknown>[]).map((r) => upperKeys<T>(r)),
      execute: async (sql: string, params?: Params) => this.prepare(sql).run(bind(sql, params)).changes,
      insertId: async (sql: string, params?: Params) => {
        // lastInsertRowid is the connection's last insert: only this statement's when it added a row.
        const { changes, lastInsertRowid } = this.prepare(sql).run(bind(sql, params));
        if (changes > 1) throw new UnexpectedRowCount('inserting one row', 1, changes);
        return changes === 1 ? Number(lastInsertRowid) : undefined;
      },
    };
  }

  /** Runs `fn` once every earlier piece of work on this connection has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  read<T>(work: (s: PasSession) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      try {
        return await work(this.session);
      } catch (error) {
        throw asTransient(error);
      }
    });
  }

  transaction<T>(work: (s: PasSession) => Promise<TxOutcome<T>>, options: TxOptions = {}): Promise<T> {
    return this.serial(async () => {
      await this.beginImmediate(options);
      let outcome: TxOutcome<T>;
      try {
        outcome = await work(this.session);
      } catch (error) {
        if (this.db.inTransaction) this.prepare('ROLLBACK').run();
        throw asTransient(error);
      }
      try {
        this.prepare(outcome.commit ? 'COMMIT' : 'ROLLBACK').run();
      } catch (error) {
        // Never leave the connection inside a transaction for the next job.
        if (this.db.inTransaction) this.prepare('ROLLBACK').run();
        throw asTransient(error);
      }
      return outcome.value;
    });
  }

  /**
   * SQLite's own busy handler sleeps inside the call, stalling every other job of this worker; so
   * the lock is tried without waiting and, while taken, tried again after yielding to the event
   * loop, within the busy timeout, cut to the write's deadline: no point waiting past it.
   */
  private async beginImmediate({ deadline, now = Date.now }: TxOptions): Promise<void> {
    const giveUp = Date.now() + lockWaitMs(this.busyTimeoutMs, deadline, now());
    for (let attempt = 1; ; attempt++) {
      this.prepare('PRAGMA busy_timeout = 0').get();
      try {
        this.prepare('BEGIN IMMEDIATE').run();
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= giveUp) throw asTransient(error);
      } finally {
        this.prepare(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`).get();
      }
      await (attempt <= 3 ? setImmediate() : sleep(1));
    }
  }

  /** Statements compiled once per connection (better-sqlite3 compiles on every prepare()). */
  prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= 500) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  isDuplicateKey(error: unknown): boolean {
    return isSqliteDuplicateKey(error);
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.db.open) this.db.close();
  }
}

/** SQLite's lock and busy errors: another connection holds a lock we need. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** A busy error becomes a TransientPasError (worth retrying); anything else is thrown as it is. */
export function asTransient(error: unknown): unknown {
  if (!isBusy(error)) return error;
  return new TransientPasError(`SQLite PAS is busy (${(error as { code: string }).code})`, { cause: error });
}

export function isSqliteDuplicateKey(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
