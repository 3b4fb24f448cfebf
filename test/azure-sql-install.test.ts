import { readdirSync, readFileSync } from 'node:fs';
import { mssqlConfig } from '@booking/pas/mssql';
import { describe, expect, it } from 'vitest';
import { grantsIn, grantsNeeded } from './support/grants.js';

/**
 * The Azure SQL install (docs/install.md 3.4, docker/azure-sql/): a contained database user with
 * the same least-privilege grants as the on-premises login. `CREATE LOGIN … CHECK_POLICY` is a
 * syntax error on Azure SQL Database, and logins are not replicated to a failover group's
 * secondary, so neither the script nor the documented steps may use a login.
 */

const repo = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), 'utf8');
const withoutComments = (text: string) => text.replace(/--.*$/gm, '');
const scripts = readdirSync(new URL('docker/azure-sql/', repo))
  .filter((f) => f.endsWith('.sql'))
  .map((f) => ({ file: `docker/azure-sql/${f}`, text: read(`docker/azure-sql/${f}`) }));
const install = read('docs/install.md');
const azureSection = install.slice(install.indexOf('### 3.4 Azure SQL'), install.indexOf('## 4. Running with Docker Compose'));
const azureSql = [...azureSection.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] as string);

describe('Azure SQL install', () => {
  it('has a grants script and a documented section, with SQL in it', () => {
    expect(scripts.map((s) => s.file)).toContain('docker/azure-sql/worker-role.sql');
    expect(azureSection.length).toBeGreaterThan(500);
    expect(azureSql.length).toBeGreaterThanOrEqual(2);
  });

  it('never creates or uses a server login', () => {
    for (const { file, text } of [...scripts, ...azureSql.map((text, i) => ({ file: `docs/install.md 3.4 snippet ${i + 1}`, text }))]) {
      const code = withoutComments(text);
      expect(code, file).not.toMatch(/CREATE\s+LOGIN|ALTER\s+LOGIN|CHECK_POLICY|sp_addlogin|FOR\s+LOGIN|FROM\s+LOGIN/i);
    }
  });

  it('creates the worker as a contained user (managed identity or password) and gives it the role', () => {
    const snippets = azureSql.join('\n');
    expect(snippets).toMatch(/CREATE USER \[[^\]]+\] FROM EXTERNAL PROVIDER/);
    expect(snippets).toMatch(/CREATE USER booking_worker WITH PASSWORD = N'[^']*'/);
    expect(snippets.match(/ALTER ROLE booking_worker_role ADD MEMBER/g)).toHaveLength(2);
  });

  it('grants the role exactly the columns the adapter reads and writes, as on premises', () => {
    const code = withoutComments(read('docker/azure-sql/worker-role.sql'));
    expect(code).toMatch(/IF DATABASE_PRINCIPAL_ID\(N'booking_worker_role'\) IS NULL\s+CREATE ROLE booking_worker_role;/);
    expect(grantsIn(code, 'booking_worker_role')).toEqual(grantsNeeded());
    expect(code).not.toMatch(/DELETE|ALTER ON|CONTROL|db_owner|db_datawriter|db_datareader/i);
  });

  it('documents connection strings the worker accepts: the listener, the database, Entra or a contained user', () => {
    const strings = [...azureSection.matchAll(/^\s*(Server=tcp:[^\n]+|mssql:\/\/[^\n]+)$/gm)].map((m) => (m[1] as string).replace('<password, percent-encoded>', 'pw').replace('<client id>', '00000000-0000-0000-0000-000000000000'));
    expect(strings).toHaveLength(2);
    const [entra, contained] = strings.map((s) => mssqlConfig(s));
    expect(entra).toMatchObject({ server: 'pas-fog.database.windows.net', database: 'PAS', authentication_type: 'azure-active-directory-default', clientId: '00000000-0000-0000-0000-000000000000', options: { encrypt: true } });
    expect(contained).toMatchObject({ server: 'pas-fog.database.windows.net', database: 'PAS', user: 'booking_worker', options: { encrypt: true } });
  });
});
