import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateDemoData, openPasScreens, type PasScreens } from '@booking/pas';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { openPas } from '../pas-access.js';
import { type PasTarget, pasTarget } from '../settings.js';

/**
 * `booking-facade pas <action>`: plays what a clerk does on the PAS's own screens (legacy tables
 * only, adapters/pas/src/pas-screens.ts) against the demo PAS, so a newcomer can watch a PAS-side
 * change become a new version on the next API read. A PAS holding anything but the demo clinics
 * is refused unless --force: these are real writes to the trust's tables.
 */

export type PasAction =
  | { action: 'cancel'; appointmentId: string; by: 'patient' | 'hospital' }
  | { action: 'move'; appointmentId: string; toSlotId: string }
  | { action: 'walk-in'; slotId: string }
  | { action: 'arrive' | 'attend' | 'did-not-attend'; appointmentId: string }
  | { action: 'withdraw-slot'; slotId: string };

export interface PasScreenOptions {
  sqlite?: string;
  mssql?: string;
  force: boolean;
  json: boolean;
}

export async function pasScreen(request: PasAction, options: PasScreenOptions): Promise<ExitCode> {
  const target = pasTarget(options);
  await refuseNonDemo(target, options.force);
  let screens: PasScreens;
  try {
    screens = await openPasScreens(target.kind === 'sqlite' ? { sqlitePath: resolve(target.path), timeZone: target.timeZone } : { mssqlUrl: target.connectionString, timeZone: target.timeZone });
  } catch (error) {
    throw new CliError(EXIT.UNAVAILABLE, `pas: cannot open the PAS: ${(error as Error).message}`);
  }
  let done: string;
  let result: Record<string, unknown> = {};
  try {
    switch (request.action) {
      case 'cancel':
        await screens.cancel(request.appointmentId, request.by);
        done = `appointment ${request.appointmentId} cancelled by the ${request.by} (its slot is free again)`;
        break;
      case 'move':
        await screens.move(request.appointmentId, request.toSlotId);
        done = `appointment ${request.appointmentId} moved to slot ${request.toSlotId} (its old slot is free again)`;
        break;
      case 'walk-in': {
        const { pasAppointmentId } = await screens.walkIn(request.slotId);
        result = { pasAppointmentId };
        done = `walk-in patient booked into slot ${request.slotId} (legacy APPT_ID ${pasAppointmentId})`;
        break;
      }
      case 'arrive':
        await screens.arrive(request.appointmentId);
        done = `appointment ${request.appointmentId} marked arrived`;
        break;
      case 'attend':
        await screens.attend(request.appointmentId);
        done = `appointment ${request.appointmentId} marked attended`;
        break;
      case 'did-not-attend':
        await screens.didNotAttend(request.appointmentId);
        done = `appointment ${request.appointmentId} marked did not attend`;
        break;
      case 'withdraw-slot':
        await screens.withdrawSlot(request.slotId);
        done = `slot ${request.slotId} withdrawn (unavailable)`;
        break;
    }
  } catch (error) {
    // The screens refuse a row that is not in a state the action applies to, with a clear message.
    throw new CliError(EXIT.FAILED, `pas ${request.action}: ${(error as Error).message}`);
  } finally {
    await screens.close().catch(() => undefined);
  }
  if (options.json) console.log(JSON.stringify({ ok: true, ...request, ...result, message: done }));
  else {
    console.log(`booking-facade pas: ${done}.`);
    if ('appointmentId' in request) console.log('  The next read of the appointment through the API shows the change as a new version (so does the reconciler\u2019s next sweep).');
  }
  return EXIT.OK;
}

/** The same guard as demo-data: clinics the demo set did not make mean a real PAS. */
async function refuseNonDemo(target: PasTarget, force: boolean): Promise<void> {
  if (force) return;
  if (target.kind === 'sqlite' && !existsSync(resolve(target.path))) {
    throw new CliError(EXIT.UNAVAILABLE, `pas: no SQLite PAS at ${resolve(target.path)} (PAS_SQLITE_PATH; \`npm start\` or \`booking-facade demo-data\` creates it)`);
  }
  const demoClinics = generateDemoData({ slotCount: 1, timeZone: target.timeZone }).clinics.map((c) => `'${String(c.CLINIC_CODE)}'`);
  const pas = await openPas(target, { readonly: true });
  try {
    const rows = await pas.query(`SELECT COUNT(*) AS n FROM CLINIC WHERE CLINIC_CODE NOT IN (${demoClinics.join(', ')})`);
    const others = Number(rows[0]?.n ?? 0);
    if (others > 0) throw new CliError(EXIT.FAILED, `pas: refusing to change ${pas.describe}: it holds ${others} clinic(s) that are not demo data. These commands write the PAS's own tables; use --force only on a demo or test database.`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(EXIT.UNAVAILABLE, `pas: cannot read ${pas.describe}: ${(error as Error).message}`);
  } finally {
    await pas.close().catch(() => undefined);
  }
}
