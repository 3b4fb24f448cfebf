import { checkConsistency, type ConsistencyReport } from '@booking/pas';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { openPas } from '../pas-access.js';
import { pasTarget, statusMapping } from '../settings.js';

export interface ConsistencyOptions {
  json: boolean;
  sqlite?: string;
  mssql?: string;
}

/** Runs the PAS consistency check (adapters/pas/src/consistency.ts) read-only; findings → exit 1. */
export async function consistency(options: ConsistencyOptions): Promise<ExitCode> {
  const target = pasTarget(options);
  const mapping = statusMapping();
  const pas = await openPas(target, { readonly: true });
  let report: ConsistencyReport;
  try {
    report = await checkConsistency(pas.query, pas.tables, { timeZone: target.timeZone, statusMapping: mapping });
  } catch (error) {
    throw new CliError(EXIT.FAILED, `consistency: querying ${pas.describe} failed: ${(error as Error).message} (run \`booking-facade doctor\`)`);
  } finally {
    await pas.close().catch(() => undefined);
  }
  const exitCode = report.ok ? EXIT.OK : EXIT.FAILED;
  if (options.json) {
    console.log(JSON.stringify({ pas: pas.describe, exitCode, ...report }, null, 2));
    return exitCode;
  }
  const { appointments, versions, requests } = report.counts;
  console.log(`booking-facade consistency: ${pas.describe}`);
  console.log(`  ${appointments} FHIR appointment(s), ${versions} version(s), ${requests} recorded request id(s); ${report.checked.length} checks`);
  for (const f of report.findings) {
    console.log(`  FAIL  ${f.check}: ${f.description}`);
    console.log(`        ${f.keys.length} key(s): ${f.keys.slice(0, 20).join(', ')}${f.keys.length > 20 ? ', …' : ''}`);
  }
  console.log(report.ok ? '  ok    no findings' : `${report.findings.length} finding(s) \u2192 exit 1`);
  return exitCode;
}
