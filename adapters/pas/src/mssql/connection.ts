import { createRequire } from 'node:module';
import type { config as MssqlConfig } from 'mssql';

/**
 * mssql (and tedious under it) loaded only to parse the ADO form: the worker checks PAS_MSSQL_URL
 * while loading its configuration, and a worker on the SQLite PAS should not carry SQL Server's
 * driver (~15 MB of heap) for that.
 */
const mssqlModule = () => createRequire(import.meta.url)('mssql') as typeof import('mssql');

/**
 * PAS_MSSQL_URL → mssql pool configuration. Two forms are accepted:
 *
 *   URL: mssql://user:password@host:1433/database?encrypt=true&trustServerCertificate=true
 *        (user and password percent-encoded; also sqlserver://; instanceName=, connectTimeout=,
 *        requestTimeout= in ms, appName=, poolMax=)
 *   ADO: Server=host,1433;Database=PAS;User Id=user;Password=...;Encrypt=true;TrustServerCertificate=true
 */
export function mssqlConfig(connectionString: string): MssqlConfig {
  const text = connectionString.trim();
  const config = /^(mssql|sqlserver):\/\//i.test(text) ? fromUrl(text) : fromAdo(text);
  // DATETIME values round-trip as wall-clock times only with useUTC (see values.ts).
  config.options = { ...config.options, useUTC: true };
  return config;
}

function fromAdo(text: string): MssqlConfig {
  let config: MssqlConfig;
  try {
    config = mssqlModule().ConnectionPool.parseConnectionString(text);
  } catch {
    // The parser's own message may quote the text, password and all: say what to fix instead.
    throw new Error('PAS_MSSQL_URL: not a valid connection string (ADO form: Server=host,1433;Database=PAS;User Id=…;Password=…; a value containing ; { or } is written in braces, with each } inside doubled: Password={pa;ss}}word})');
  }
  if (!config.server) throw new Error('PAS_MSSQL_URL: no Server= in the connection string (expected mssql://… or Server=…;Database=…)');
  return config;
}

function fromUrl(text: string): MssqlConfig {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('PAS_MSSQL_URL: not a valid URL (expected mssql://user:password@host:1433/database)');
  }
  const server = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!server) throw new Error('PAS_MSSQL_URL: no host');
  const options: NonNullable<MssqlConfig['options']> = {};
  const config: MssqlConfig = { server, options };
  if (url.port) config.port = Number(url.port);
  if (url.username) config.user = decoded('the user name', url.username);
  if (url.password) config.password = decoded('the password', url.password);
  const database = decoded('the database name', url.pathname.replace(/^\/+/, ''));
  if (database) config.database = database;

  for (const [key, value] of url.searchParams) {
    switch (key.toLowerCase()) {
      case 'encrypt':
        options.encrypt = flag(key, value);
        break;
      case 'trustservercertificate':
        options.trustServerCertificate = flag(key, value);
        break;
      case 'instancename':
        options.instanceName = value;
        break;
      case 'appname':
        options.appName = value;
        break;
      case 'connecttimeout':
      case 'connectiontimeout':
        config.connectionTimeout = count(key, value);
        break;
      case 'requesttimeout':
        config.requestTimeout = count(key, value);
        break;
      case 'poolmax':
        config.pool = { ...config.pool, max: count(key, value) };
        break;
      default:
        throw new Error(`PAS_MSSQL_URL: unknown option "${key}" (known: encrypt, trustServerCertificate, instanceName, appName, connectTimeout, requestTimeout, poolMax)`);
    }
  }
  return config;
}

/** A percent-encoded URL part; a stray % (a password's literal %) is a configuration error, never echoed. */
function decoded(what: string, value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new Error(`PAS_MSSQL_URL: ${what} is not percent-encoded (write a literal % as %25, @ as %40, : as %3A, / as %2F)`);
  }
}

function flag(key: string, value: string): boolean {
  if (/^(true|yes|1)$/i.test(value)) return true;
  if (/^(false|no|0)$/i.test(value)) return false;
  throw new Error(`PAS_MSSQL_URL: ${key} must be true or false`);
}

function count(key: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`PAS_MSSQL_URL: ${key} must be a whole number`);
  return Number(value);
}
