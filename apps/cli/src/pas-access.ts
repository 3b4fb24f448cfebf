import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MSSQL_TABLES, type ProductTables, SQLITE_TABLES } from '@booking/pas';
import { mssqlConfig } from '@booking/pas/mssql';
import Database from 'better-sqlite3';
import sql from 'mssql';
import { CliError, EXIT } from './exit-codes.js';
import type { PasTarget } from './settings.js';

/**
 * A plain query connection to the PAS for the operator commands. Deliberately not the adapter: the
 * SQLite adapter creates missing tables when it opens a file, which would hide exactly what doctor
 * is looking for, and read-only checks should not take the adapter's write paths anyway.
 */
export interface PasConnection {
  kind: 'sqlite' | 'mssql';
  /** Where it is, without credentials. */
  describe: string;
  tables: ProductTables;
  query(text: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
  /** The SQL Server pool (mssql only), for the adapter's own loaders. */
  pool?: sql.ConnectionPool;
  /** The SQLite handle (sqlite only). */
  db?: Database.Database;
}

/** Where a SQL Server connection string points, without user or password. */
export function describeMssql(connectionString: string): string {
  const c = mssqlConfig(connectionString);
  return `SQL Server ${c.server}${c.port ? `:${c.port}` : ''}${c.options?.instanceName ? `\\${c.options.instanceName}` : ''}/${c.database ?? '(default database)'}`;
}

export async function openPas(target: PasTarget, options: { readonly: boolean; connectTimeoutMs?: number } = { readonly: true }): Promise<PasConnection> {
  if (target.kind === 'sqlite') {
    const path = resolve(target.path);
    if (options.readonly && !existsSync(path)) throw new CliError(EXIT.UNAVAILABLE, `PAS: no SQLite file at ${path} (PAS_SQLITE_PATH)`);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: options.readonly, fileMustExist: options.readonly });
    } catch (error) {
      throw new CliError(EXIT.UNAVAILABLE, `PAS: cannot open SQLite file ${path}: ${(error as Error).message}`);
    }
    return {
      kind: 'sqlite',
      describe: `SQLite ${path}`,
      tables: SQLITE_TABLES,
      db,
      query: async (text) => db.prepare(text).all() as Record<string, unknown>[],
      close: async () => {
        db.close();
      },
    };
  }

  let config: sql.config;
  try {
    config = mssqlConfig(target.connectionString);
  } catch (error) {
    throw new CliError(EXIT.CONFIG, `configuration error: ${(error as Error).message}`);
  }
  const pool = new sql.ConnectionPool({ ...config, connectionTimeout: config.connectionTimeout ?? options.connectTimeoutMs ?? 10000 });
  pool.on('error', () => undefined); // errors reach the query that meets them
  const describe = describeMssql(target.connectionString);
  try {
    await pool.connect();
  } catch (error) {
    throw new CliError(EXIT.UNAVAILABLE, `PAS: cannot connect to ${describe}: ${(error as Error).message}`);
  }
  return {
    kind: 'mssql',
    describe,
    tables: MSSQL_TABLES,
    pool,
    query: async (text) => (await pool.request().query(text)).recordset as Record<string, unknown>[],
    close: () => pool.close(),
  };
}
