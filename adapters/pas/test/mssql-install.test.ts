import { readdirSync, readFileSync } from 'node:fs';
import sql from 'mssql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMssqlSchema, mssqlConfig, seedMssqlDemo, splitBatches } from '../src/mssql/index.js';

/**
 * The install scripts must run again and again without error on SQL Server, Azure SQL and
 * Babelfish (pas-init runs them at every `up`; `demo-data --force` runs the schema scripts each
 * time). On Babelfish an index's name is stored with a hash suffix, so a guard that looks the
 * index up by name never matches and the second run fails with "relation … already exists".
 * Statically: every CREATE INDEX is guarded by its table and key columns, and nothing looks an
 * index up by name. Live (PAS_MSSQL_URL): everything runs twice.
 */

const repo = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), 'utf8');
const withoutComments = (script: string) => script.replace(/--.*$/gm, '');
const scripts = readdirSync(new URL('docker/pas/', repo))
  .filter((f) => f.endsWith('.sql'))
  .map((f) => ({ file: `docker/pas/${f}`, text: read(`docker/pas/${f}`) }));

/** Every TypeScript source that sends catalogue queries or DDL to SQL Server. */
const tsSources = ['adapters/pas/src/mssql', 'apps/cli/src', 'apps/cli/src/commands'].flatMap((dir) =>
  readdirSync(new URL(`${dir}/`, repo))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: `${dir}/${f}`, text: read(`${dir}/${f}`) })),
);

/** Statements (roughly: up to the next semicolon or GO) that read sys.indexes, with how they name it. */
function indexLookups(text: string): { statement: string; alias: string | undefined }[] {
  return [...withoutComments(text).matchAll(/sys\.indexes(?:\s+(?:AS\s+)?(?!JOIN|WHERE|ON|INNER|LEFT|CROSS)(\w+))?[\s\S]*?(?:;|\n\s*GO\b|`|$)/gi)].map((m) => ({
    statement: m[0],
    alias: m[1],
  }));
}

describe('install scripts: create-if-missing guards that hold on SQL Server, Azure SQL and Babelfish', () => {
  it('guard every CREATE INDEX by its table and key columns, in order', () => {
    let indexes = 0;
    for (const { file, text } of scripts) {
      for (const batch of splitBatches(text)) {
        const code = withoutComments(batch);
        for (const m of code.matchAll(/CREATE (UNIQUE )?INDEX (\w+) ON (\w+\.\w+) \(([^)]*)\)/g)) {
          indexes++;
          const [, unique, name, table, keys] = m as unknown as [string, string | undefined, string, string, string];
          const guard = code.slice(0, m.index);
          const where = `${file} ${name}`;
          expect(guard, where).toMatch(/IF NOT EXISTS \(SELECT 1 FROM sys\.indexes i\b/);
          expect(guard, where).toContain(`i.object_id = OBJECT_ID(N'${table}')`);
          for (const [n, column] of keys.split(',').map((k) => k.trim()).entries()) {
            expect(guard, `${where}: key ${column}`).toMatch(new RegExp(`k${n + 1}\\.key_ordinal = ${n + 1}[\\s\\S]*c${n + 1}\\.name = N'${column}'`));
          }
          if (unique) expect(guard, where).toContain('i.is_unique = 1');
          expect(guard, `${where} is looked up by name`).not.toMatch(/\bi\.name\b|[^.\w]name\s*=\s*N?'(IX|UX)_/i);
        }
      }
    }
    expect(indexes).toBeGreaterThanOrEqual(6);
  });

  it('look no index up by its name, in the scripts or in any code that talks to SQL Server', () => {
    for (const { file, text } of [...scripts, ...tsSources]) {
      for (const { statement, alias } of indexLookups(text)) {
        const byName = alias ? new RegExp(`\\b${alias}\\.name\\s*(=|IN\\b|LIKE\\b)`, 'i') : /(?<![.\w])name\s*(=|IN\b|LIKE\b)/i;
        expect(statement, `${file}: ${statement.slice(0, 120)}`).not.toMatch(byName);
      }
      expect(withoutComments(text), file).not.toMatch(/INDEXPROPERTY\s*\(|INDEX_ID\s*\(/i);
    }
  });

  it('give the slot search its covering index in the reference schema', () => {
    expect(withoutComments(read('docker/pas/01-legacy-schema.sql'))).toMatch(
      /CREATE INDEX IX_CLINIC_SLOT_CLINIC_START ON dbo\.CLINIC_SLOT \(CLINIC_CODE, START_DTTM\)\s+INCLUDE \(SLOT_STATUS, SLOT_GUID, END_DTTM, CONTACT_TYPE\)/,
    );
  });
});

const url = process.env.PAS_MSSQL_URL;
if (url) {
  describe('install scripts on the SQL Server named by PAS_MSSQL_URL (a scratch database)', () => {
    let pool: sql.ConnectionPool;
    beforeAll(async () => {
      pool = await new sql.ConnectionPool(mssqlConfig(url)).connect();
    });
    afterAll(async () => {
      await pool?.close();
    });

    // Non-destructive on purpose: the contract suite may be using the same database in parallel.
    // (`demo-data --force` runs createMssqlSchema before each reload: the part that failed.)
    it('run twice without error: the schema scripts and the demo seed', async () => {
      await createMssqlSchema(pool);
      await createMssqlSchema(pool);
      await seedMssqlDemo(pool);
      await seedMssqlDemo(pool);
      const clinics = (await pool.request().query<{ n: number }>("SELECT COUNT(*) AS n FROM dbo.CLINIC WHERE CLINIC_CODE = 'DEMOCL01'")).recordset[0]?.n;
      expect(clinics).toBe(1);
    });

    it('leave one index per requirement, not one per run', async () => {
      const rows = (
        await pool.request().query<{ n: number }>(
          `SELECT COUNT(*) AS n FROM sys.indexes i
             JOIN sys.index_columns k ON k.object_id = i.object_id AND k.index_id = i.index_id AND k.key_ordinal = 1
             JOIN sys.columns c ON c.object_id = k.object_id AND c.column_id = k.column_id
            WHERE i.object_id = OBJECT_ID(N'dbo.CLINIC_SLOT') AND c.name = N'CLINIC_CODE'`,
        )
      ).recordset;
      expect(rows[0]?.n).toBe(1);
    });
  });
} else {
  describe.skip('install scripts run twice on SQL Server: skipped, set PAS_MSSQL_URL=mssql://user:password@host:1433/database?trustServerCertificate=true (a database they may wipe) to run them', () => {
    it('runs every install script twice', () => undefined);
  });
}
