import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { MSSQL_TABLES, type ProductTables, SQLITE_TABLES } from '@booking/pas';
import { mssqlConfig } from '@booking/pas/mssql';
import Database from 'better-sqlite3';
import sql from 'mssql';
import { type ConnectFailure, connectFailure } from './connect-failure.js';
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

const MSSQL_FIX: Record<ConnectFailure, string> = {
  network: 'check the server, the network path and PAS_MSSQL_URL',
  credentials: 'correct the login and password in PAS_MSSQL_URL (the worker\u2019s SQL login; docs/install.md, grants)',
  tls: 'let this machine trust the SQL Server certificate: its CA in NODE_EXTRA_CA_CERTS (a PEM file), or trustServerCertificate=true in PAS_MSSQL_URL on a network you trust; encrypt=true in PAS_MSSQL_URL if the server requires encryption',
  other: 'check PAS_MSSQL_URL and the SQL Server error log',
};

/**
 * A failed connect to SQL Server: 69 only when the network never reached it (docs/install.md, exit
 * codes); a refused login or an untrusted certificate is a wrong setting (78), with what to change.
 */
export function mssqlConnectError(describe: string, error: unknown): CliError {
  const failure = connectFailure(error);
  const code = failure === 'network' ? EXIT.UNAVAILABLE : failure === 'other' ? EXIT.FAILED : EXIT.CONFIG;
  return new CliError(code, `PAS: cannot connect to ${describe}: ${(error as Error).message}`, MSSQL_FIX[failure]);
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
    throw mssqlConnectError(describe, error);
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
