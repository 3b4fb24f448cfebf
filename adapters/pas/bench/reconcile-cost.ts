/**
 * Measures the cost of one reconcile sweep on the embedded SQLite PAS (not part of npm test):
 *
 *   node --conditions=source --import tsx adapters/pas/bench/reconcile-cost.ts [appointments] [step]
 *
 * Books N upcoming appointments through the adapter, then times full sweeps (steps of `step`)
 * with nothing changed, and after the PAS's screens changed 1% of them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDemoData } from '../src/demo-data.js';
import { LocalClock } from '../src/local-time.js';
import { openPasScreens } from '../src/pas-screens.js';
import { loadDemoDataSqlite } from '../src/sqlite/demo-data.js';
import { SqlitePas } from '../src/sqlite/sqlite-pas.js';

const count = Number(process.argv[2] ?? 10_000);
const step = Number(process.argv[3] ?? 500);
const dir = mkdtempSync(join(tmpdir(), 'reconcile-cost-'));
const path = join(dir, 'pas.db');
const clock = new LocalClock();
const pas = new SqlitePas({ path });
const data = generateDemoData({ slotCount: count });
loadDemoDataSqlite(pas.db, data);

const slots = data.slots.filter((s) => s.CLINIC_CODE === 'DEMOCL01');
const ids: string[] = [];
const t0 = performance.now();
for (const slot of slots.slice(0, count)) {
  const appointmentId = randomUUID();
  const lastUpdated = new Date().toISOString();
  const start = clock.toInstant(slot.START_DTTM);
  const end = clock.toInstant(slot.END_DTTM);
  const result = await pas.book({
    requestId: randomUUID(),
    jobId: 'bench',
    appointmentId,
    slotGuid: slot.SLOT_GUID,
    start,
    end,
    reason: 'bench',
    patient: { nhsNumber: String(9000000000 + ids.length), family: 'Bench', gender: 'unknown', birthDate: '1990-01-01', addressLines: [] },
    lastUpdated,
    buildResource: (hosp) => ({
      resourceType: 'Appointment',
      id: appointmentId,
      meta: { versionId: '1', lastUpdated },
      status: 'booked',
      start,
      end,
      description: 'A realistic amount of text for a stored appointment resource',
      contained: [{ resourceType: 'Patient', id: 'P1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: String(9000000000 + ids.length) }, { system: 'local', value: hosp }] }],
      participant: [{ actor: { reference: '#P1' }, status: 'accepted' }],
    }),
  });
  if (result.outcome !== 'booked') throw new Error(`booking failed: ${JSON.stringify(result)}`);
  ids.push(appointmentId);
}
console.log(`booked ${ids.length} upcoming appointments in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

async function sweep(label: string) {
  const now = new Date().toISOString();
  let after: string | undefined;
  let steps = 0;
  let checked = 0;
  let versioned = 0;
  let slowest = 0;
  const start = performance.now();
  do {
    const s = performance.now();
    const r = await pas.reconcile({ limit: step, now, ...(after ? { after } : {}) });
    slowest = Math.max(slowest, performance.now() - s);
    steps++;
    checked += r.checked;
    versioned += r.versioned;
    after = r.next;
  } while (after);
  const ms = performance.now() - start;
  console.log(`${label}: ${checked} checked, ${versioned} versioned, ${steps} steps of ${step}: ${ms.toFixed(0)} ms per sweep (${(ms / checked * 1000).toFixed(0)} µs per appointment, slowest step ${slowest.toFixed(0)} ms)`);
}

await sweep('sweep, nothing changed');
await sweep('sweep, nothing changed (again)');
const screens = await openPasScreens({ sqlitePath: path });
for (let i = 0; i < ids.length; i += 100) await screens.cancel(ids[i] as string, 'hospital');
await screens.close();
await sweep('sweep after 1% cancelled in the PAS');
await sweep('sweep, nothing changed since');
await pas.close();
rmSync(dir, { recursive: true, force: true });
