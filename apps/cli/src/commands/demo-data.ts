import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEMO_SERVICE_WITH_SLOTS, generateDemoData } from '@booking/pas';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { openPas, type PasConnection } from '../pas-access.js';
import { pasTarget } from '../settings.js';

export interface DemoDataOptions {
  slots: number;
  sqlite?: string;
  mssql?: string;
  force: boolean;
}

/**
 * Loads the demo data set (adapters/pas generateDemoData) into a PAS, replacing every PAS row. It
 * refuses when the PAS holds anything the demo set did not make (other clinics, appointments on
 * them, patients the trust registered) unless --force: this is for demo and test databases only.
 */
export async function demoData(options: DemoDataOptions): Promise<ExitCode> {
  const target = pasTarget(options);
  const data = generateDemoData({ slotCount: options.slots, timeZone: target.timeZone });
  const demoClinics = data.clinics.map((c) => String(c.CLINIC_CODE));

  if (target.kind === 'sqlite') {
    const path = resolve(target.path);
    if (existsSync(path)) {
      const pas = await openPas(target, { readonly: true });
      try {
        await refuseNonDemo(pas, demoClinics, options.force);
      } finally {
        await pas.close();
      }
    }
    mkdirSync(dirname(path), { recursive: true });
    // The adapter creates the reference schema where it is missing, then the rows go in.
    const { SqlitePas, loadDemoDataSqlite } = await import('@booking/pas/sqlite');
    const pas = new SqlitePas({ path, timeZone: target.timeZone });
    try {
      loadDemoDataSqlite(pas.db, data);
    } finally {
      await pas.close();
    }
    report(`SQLite ${path}`, data);
    return EXIT.OK;
  }

  const pas = await openPas(target, { readonly: false });
  try {
    await refuseNonDemo(pas, demoClinics, options.force);
    const { createMssqlSchema, loadDemoDataMssql } = await import('@booking/pas/mssql');
    const pool = pas.pool as NonNullable<PasConnection['pool']>;
    await createMssqlSchema(pool); // idempotent: creates only what is missing
    await loadDemoDataMssql(pool, data);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.FAILED, `demo-data: loading into ${pas.describe} failed: ${(error as Error).message}`);
  } finally {
    await pas.close().catch(() => undefined);
  }
  report(pas.describe, data);
  return EXIT.OK;
}

async function refuseNonDemo(pas: PasConnection, demoClinics: string[], force: boolean): Promise<void> {
  const present = await existingTables(pas);
  const list = demoClinics.map((c) => `'${c}'`).join(', ');
  const count = async (sql: string) => Number((await pas.query(sql))[0]?.n ?? 0);
  const clinics = present.has('CLINIC') ? await count(`SELECT COUNT(*) AS n FROM CLINIC WHERE CLINIC_CODE NOT IN (${list})`) : 0;
  const appointments =
    present.has('APPOINTMENT') && present.has('CLINIC_SLOT')
      ? await count(`SELECT COUNT(*) AS n FROM APPOINTMENT a LEFT JOIN CLINIC_SLOT s ON s.SLOT_ID = a.SLOT_ID WHERE s.SLOT_ID IS NULL OR s.CLINIC_CODE NOT IN (${list})`)
      : 0;
  // Bookings register temporary patients ('T'); a permanent one ('P') is the trust's own.
  const patients = present.has('PATIENT') ? await count(`SELECT COUNT(*) AS n FROM PATIENT WHERE REG_TYPE <> 'T'`) : 0;
  if (clinics + appointments + patients === 0) return;
  const held = `${clinics} non-demo clinic(s), ${appointments} appointment(s) outside the demo clinics, ${patients} registered (non-temporary) patient(s)`;
  if (!force) {
    throw new CliError(EXIT.FAILED, `demo-data: refusing to overwrite ${pas.describe}: it holds ${held}, and loading demo data deletes every PAS row. Use --force only on a demo or test database.`);
  }
  console.error(`demo-data: --force: deleting ${held} from ${pas.describe}`);
}

async function existingTables(pas: PasConnection): Promise<Set<string>> {
  if (pas.kind === 'sqlite') {
    const rows = await pas.query(`SELECT name FROM sqlite_master WHERE type IN ('table', 'view')`);
    return new Set(rows.map((r) => String(r.name).toUpperCase()));
  }
  // Unqualified, as the adapter resolves them: the login's default schema, then dbo.
  const row = (await pas.query(`SELECT OBJECT_ID(N'CLINIC') AS CLINIC, OBJECT_ID(N'CLINIC_SLOT') AS CLINIC_SLOT, OBJECT_ID(N'APPOINTMENT') AS APPOINTMENT, OBJECT_ID(N'PATIENT') AS PATIENT`))[0] ?? {};
  return new Set(Object.entries(row).filter(([, id]) => id !== null).map(([name]) => name));
}

function report(where: string, data: ReturnType<typeof generateDemoData>): void {
  const main = data.clinics.find((c) => c.DOS_SERVICE_ID === DEMO_SERVICE_WITH_SLOTS)?.CLINIC_CODE;
  const mainSlots = data.slots.filter((s) => s.CLINIC_CODE === main);
  console.log(`booking-facade demo-data: loaded into ${where}`);
  console.log(`  ${data.clinics.length} clinics (DoS services ${data.clinics.map((c) => c.DOS_SERVICE_ID).join(', ')}), ${data.slots.length} slots`);
  if (mainSlots.length > 0) console.log(`  service ${DEMO_SERVICE_WITH_SLOTS}: ${mainSlots.length} free slots, ${mainSlots[0]?.START_DTTM} to ${mainSlots.at(-1)?.END_DTTM} (PAS local time)`);
}
