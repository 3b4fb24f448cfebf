import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateDemoData } from '../src/demo-data.js';
import { isTransientMssqlError, mssqlConfig, splitBatches } from '../src/mssql/index.js';

/**
 * What can be checked of the SQL Server adapter without a SQL Server: the T-SQL scripts against the
 * reference SQLite schema and the portability rules, connection strings, and error mapping. The
 * behaviour itself is checked by contract.test.ts when PAS_MSSQL_URL is set.
 */

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const sqliteSchema = read('../sql/sqlite-schema.sql');
const legacyTsql = read('../../../docker/pas/01-legacy-schema.sql');
const bookingTsql = read('../../../docker/pas/02-booking-schema.sql');
const seedTsql = read('../../../docker/pas/03-demo-seed.sql');
const tsql = [legacyTsql, bookingTsql, seedTsql];

const withoutComments = (script: string) => script.replace(/--.*$/gm, '');

/** Table → column names, from the CREATE TABLE statements (booking.X and booking_X are one table). */
function tableColumns(script: string): Record<string, string[]> {
  const tables: Record<string, string[]> = {};
  for (const m of withoutComments(script).matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([\w.]+) \(([\s\S]*?)\n\);/g)) {
    const name = (m[1] as string).replace(/^dbo\./, '').replace(/^booking\./, 'booking_');
    tables[name] = [...(m[2] as string).matchAll(/^\s+([A-Z][A-Z0-9_]*)\s+(?!KEY\b)[A-Z]/gm)]
      .map((c) => c[1] as string)
      .filter((c) => c !== 'CONSTRAINT' && c !== 'PRIMARY');
  }
  return tables;
}

const indexNames = (script: string) => [...withoutComments(script).matchAll(/CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(\w+)/g)].map((m) => m[1]).sort();

describe('SQL Server scripts', () => {
  it('have exactly the tables and columns of the reference SQLite schema', () => {
    const reference = tableColumns(sqliteSchema);
    expect(Object.keys(reference)).toHaveLength(11);
    expect({ ...tableColumns(legacyTsql), ...tableColumns(bookingTsql) }).toEqual(reference);
  });

  it('have the reference indexes (HOSP_NO unique through a filtered index instead of a column constraint)', () => {
    expect(indexNames(legacyTsql + bookingTsql)).toEqual([...indexNames(sqliteSchema), 'UX_PATIENT_HOSP_NO'].sort());
    expect(legacyTsql).toMatch(/CREATE INDEX IX_CLINIC_SLOT_CLINIC_START ON dbo\.CLINIC_SLOT \(CLINIC_CODE, START_DTTM\)/);
    expect(legacyTsql).toMatch(/CONSTRAINT UQ_CLINIC_SLOT_GUID UNIQUE \(SLOT_GUID\)/);
  });

  it('create every object only when it is missing, so they can run again', () => {
    for (const script of [legacyTsql, bookingTsql]) {
      for (const batch of splitBatches(script)) {
        const code = withoutComments(batch);
        for (const m of code.matchAll(/CREATE TABLE ([\w.]+)/g)) expect(code).toContain(`IF OBJECT_ID(N'${m[1]}', N'U') IS NULL`);
        // Indexes are guarded by table and key columns (never by name): mssql-install.test.ts.
        for (const m of code.matchAll(/CREATE (?:UNIQUE )?INDEX (\w+)/g)) expect(code, m[1]).toMatch(/IF NOT EXISTS \(SELECT 1 FROM sys\.indexes i\b/);
      }
    }
    expect(withoutComments(seedTsql)).toMatch(/IF NOT EXISTS \(SELECT 1 FROM dbo\.CLINIC WHERE CLINIC_CODE = 'DEMOCL01'\)/);
  });

  it('keep to T-SQL that SQL Server 2017, Azure SQL and Babelfish all run', () => {
    for (const script of tsql) {
      const code = withoutComments(script);
      expect(code).not.toMatch(/\bMERGE\b/i);
      expect(code).not.toMatch(/\bCREATE OR ALTER\b/i);
      expect(code).not.toMatch(/\bOUTPUT\b/i);
      expect(code).not.toMatch(/\bSEQUENCE\b/i);
      // Babelfish refuses named DEFAULT constraints by default.
      expect(code).not.toMatch(/CONSTRAINT \w+ DEFAULT/i);
      expect(code).not.toMatch(/\b(NON)?CLUSTERED\b/i);
      // sqlcmd reads scripts in the client's code page unless told otherwise.
      expect(script).toMatch(/^[\x00-\x7F]*$/);
    }
  });

  it('split into batches on GO lines only', () => {
    const batches = splitBatches(legacyTsql);
    expect(batches[0]).toMatch(/^--[\s\S]*SET QUOTED_IDENTIFIER ON;$/);
    expect(batches.some((b) => /^\s*GO\s*$/m.test(b))).toBe(false);
    expect(batches.filter((b) => /CREATE TABLE/.test(b))).toHaveLength(7);
    expect(splitBatches('SELECT 1\r\nGO\r\n-- only a comment\r\ngo\r\nSELECT 2 -- GO\n')).toEqual(['SELECT 1', 'SELECT 2 -- GO']);
  });

  it('seed the same services and slot counts as the demo data set', () => {
    const demo = generateDemoData();
    const expected = demo.clinics.map((c) => [c.DOS_SERVICE_ID, c.SERVICE_NAME, demo.slots.filter((s) => s.CLINIC_CODE === c.CLINIC_CODE).length]);
    const seeded = [...seedTsql.matchAll(/^\s+\((\d), '(\d+)', '([^']+)', (\d+)\)/gm)].map((m) => [m[2], m[3], Number(m[4])]);
    expect(seeded).toEqual(expected);
  });
});

describe('SQL Server connection strings', () => {
  it('accept the URL form, percent-decoding the credentials', () => {
    expect(mssqlConfig('mssql://booking%40pas:p%40ss%3Aw%2Frd@db.trust.nhs.uk:14330/PAS_LIVE?encrypt=true&trustServerCertificate=false&requestTimeout=20000')).toEqual({
      server: 'db.trust.nhs.uk',
      port: 14330,
      user: 'booking@pas',
      password: 'p@ss:w/rd',
      database: 'PAS_LIVE',
      requestTimeout: 20000,
      options: { encrypt: true, trustServerCertificate: false, useUTC: true },
    });
    expect(mssqlConfig('sqlserver://sa:pw@localhost/PAS?instanceName=SQLEXPRESS&poolMax=20')).toMatchObject({ server: 'localhost', database: 'PAS', pool: { max: 20 }, options: { instanceName: 'SQLEXPRESS', useUTC: true } });
  });

  it('accept the ADO form', () => {
    expect(mssqlConfig('Server=tcp:db.trust.nhs.uk,1433;Database=PAS;User Id=booking;Password=s3cret;Encrypt=true;TrustServerCertificate=true')).toMatchObject({
      server: 'db.trust.nhs.uk',
      port: 1433,
      database: 'PAS',
      user: 'booking',
      options: { encrypt: true, trustServerCertificate: true, useUTC: true },
    });
    expect(mssqlConfig("Server=db;Database=PAS;User Id=sa;Password='a;b'")).toMatchObject({ server: 'db', password: 'a;b' });
  });

  it('refuse what they cannot use, without echoing the password', () => {
    expect(() => mssqlConfig('mssql://sa:secret@host/PAS?encrypted=true')).toThrow(/unknown option "encrypted"/);
    expect(() => mssqlConfig('mssql://sa:secret@host/PAS?encrypt=maybe')).toThrow(/encrypt must be true or false/);
    expect(() => mssqlConfig('Database=PAS;User Id=sa;Password=secret')).toThrow(/no Server=/);
    expect(() => mssqlConfig('mssql://sa:secret@host/PAS?encrypted=true')).not.toThrow(/secret/);
  });
});

describe('SQL Server error mapping', () => {
  const requestError = (number: number) => Object.assign(new Error(`error ${number}`), { name: 'RequestError', code: 'EREQUEST', number });

  it('treats deadlocks, lock timeouts and lost connections as transient', () => {
    expect(isTransientMssqlError(requestError(1205))).toBe(true);
    expect(isTransientMssqlError(requestError(1222))).toBe(true);
    // mssql wraps the driver's error: an aborted transaction carries the deadlock inside.
    expect(isTransientMssqlError(Object.assign(new Error('Transaction has been aborted.'), { code: 'EABORT', originalError: requestError(1205) }))).toBe(true);
    for (const code of ['ESOCKET', 'ECONNRESET', 'ETIMEOUT', 'ECONNCLOSED']) {
      expect(isTransientMssqlError(Object.assign(new Error(code), { name: 'ConnectionError', code })), code).toBe(true);
    }
    expect(isTransientMssqlError(Object.assign(new Error('failed'), { code: 'ESOCKET', originalError: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }))).toBe(true);
  });

  it('treats a write refused by a read-only database as transient: an old primary mid-failover (AG, Azure SQL failover group) becomes writable elsewhere', () => {
    expect(isTransientMssqlError(requestError(3906))).toBe(true);
    expect(isTransientMssqlError(Object.assign(new Error('Transaction has been aborted.'), { code: 'EABORT', originalError: requestError(3906) }))).toBe(true);
    // Babelfish says the same under its generic number with PostgreSQL's message.
    expect(isTransientMssqlError(Object.assign(requestError(33557097), { message: 'cannot execute INSERT in a read-only transaction' }))).toBe(true);
  });

  it('leaves everything else alone', () => {
    expect(isTransientMssqlError(requestError(2627))).toBe(false); // duplicate key
    expect(isTransientMssqlError(requestError(208))).toBe(false); // invalid object name
    expect(isTransientMssqlError(Object.assign(new Error('Login failed'), { code: 'ELOGIN' }))).toBe(false);
    expect(isTransientMssqlError(new TypeError('Invalid GUID.'))).toBe(false);
  });
});
