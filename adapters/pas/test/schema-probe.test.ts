import { describe, expect, it } from 'vitest';
import { TransientPasError } from '../src/port.js';
import { mssqlDialect, type PasDatabase } from '../src/session.js';
import { probeSchema } from '../src/transactions/schema-probe.js';

/** The start-up check's reading of a failure (adapters/pas/src/transactions/schema-probe.ts), in-process. */
function database(writeFailure: Error): PasDatabase {
  return {
    dialect: mssqlDialect,
    read: async () => [] as never,
    transaction: async () => Promise.reject(writeFailure),
    isDuplicateKey: () => false,
    close: async () => {},
  };
}

describe('probeSchema on a database that refuses the write probes', () => {
  it('reports a read-only database (a readable secondary, ApplicationIntent=ReadOnly) as a finding, not as a passing failure', async () => {
    const readOnly = new TransientPasError('SQL Server PAS unavailable for now: Failed to update database "PAS" because the database is read-only.');
    const lacking = await probeSchema(database(readOnly));
    expect(lacking.length).toBeGreaterThan(0);
    expect(lacking.every((line) => /^booking\.\w+ \((insert|update)\): .*read-only/.test(line))).toBe(true);
    expect(lacking).toContainEqual(expect.stringMatching(/^booking\.FHIR_APPOINTMENT \(update\)/));
  });

  it('lets any other transient failure through: the PAS is busy or unreachable now, which is not a finding', async () => {
    await expect(probeSchema(database(new TransientPasError('SQL Server PAS unavailable for now: Transaction (Process ID 52) was deadlocked')))).rejects.toBeInstanceOf(TransientPasError);
  });
});
