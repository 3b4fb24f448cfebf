/**
 * The embedded demo: a local Redis (unless REDIS_URL is set), the demo SQLite PAS, two workers and
 * the facade on 127.0.0.1, each supervised: a process that dies is restarted with back-off while
 * the others keep serving, and the demo gives up (loudly) only when one keeps dying fast. Ctrl-C
 * stops everything. The demo data is kept between starts unless `--fresh` is given.
 *
 *   npm start -- [--fresh] [--slots N] [--workers N]
 *     --fresh       a new demo data set (free slots from tomorrow), replacing the kept one
 *     --slots N     free slots of the demo service when the data is (re)created (env DEMO_SLOTS; default 160)
 *     --workers N   worker processes (env DEMO_WORKERS; default 2, so one can die while the other serves)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateDemoData, LocalClock } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { Keyring } from '@booking/queue';
import { bookingAppointment } from '@booking/cli/consumer';
import { type ChildSpec, Supervisor } from './supervisor.js';

const root = resolve(import.meta.dirname, '..');
const dataDir = resolve(root, 'data');
const pasPath = process.env.PAS_SQLITE_PATH ?? resolve(dataDir, 'demo-pas.sqlite');
const port = Number(process.env.FACADE_PORT ?? 8080);
const adminPort = Number(process.env.ADMIN_PORT ?? 9090);
const workerAdminPort = Number(process.env.WORKER_ADMIN_PORT ?? 9091);
// The queue dashboard always needs a password: a fresh one per demo run, printed below.
const adminPassword = process.env.ADMIN_PASSWORD ?? randomBytes(12).toString('base64url');
const baseUrl = `http://127.0.0.1:${port}/STU3/1`;
const asid = process.env.PROVIDER_ASID ?? '200000000359';
const DEMO_SERVICE = '999999999';

const USAGE = 'npm start -- [--fresh] [--slots N] [--workers N]';
/** The options as parseArgs reads them; a typo (`--slot 5`) gets one line and exit 2, as a bad value does. */
function demoArgs(): { fresh: boolean; slots?: string; workers?: string } {
  try {
    return parseArgs({ options: { fresh: { type: 'boolean', default: false }, slots: { type: 'string' }, workers: { type: 'string' } } }).values;
  } catch (error) {
    console.error(`demo: ${(error as Error).message.split('\n')[0]}; usage: ${USAGE}`);
    process.exit(2);
  }
}
const args = demoArgs();

function count(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    console.error(`demo: ${name} must be a whole number from 1 to ${max}; got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}
const slotsAsked = args.slots ?? process.env.DEMO_SLOTS;
const slotCount = count('--slots (DEMO_SLOTS)', slotsAsked, 160, 1_000_000);
const workerCount = count('--workers (DEMO_WORKERS)', args.workers ?? process.env.DEMO_WORKERS, 2, 16);

function portIsFree(p: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer().once('error', () => done(false));
    s.listen(p, '127.0.0.1', () => s.close(() => done(true)));
  });
}

async function freePortFrom(first: number, taken: number[]): Promise<number> {
  let p = first;
  while (taken.includes(p) || !(await portIsFree(p))) p++;
  return p;
}

let stopping = false;
const supervisor = new Supervisor((reason) => {
  console.error(`\ndemo: GIVING UP: ${reason}. Stopping everything; see the output above for the cause.`);
  void stop(1);
});

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  if (code === 0) console.error('demo: stopping (facade, then workers, then Redis)…');
  await supervisor.stopAll();
  if (code === 0) console.error('demo: stopped.');
  process.exit(code);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

/** The demo PAS: kept from the last start unless --fresh (or there is none yet). */
function prepareDemoPas(): { kept: boolean; free: number; total: number } {
  const pas = new SqlitePas({ path: pasPath });
  try {
    const clinics = (pas.db.prepare('SELECT COUNT(*) AS n FROM CLINIC').get() as { n: number }).n;
    const kept = clinics > 0 && !args.fresh;
    if (!kept) loadDemoDataSqlite(pas.db, generateDemoData({ slotCount }));
    const slots = (status?: string) =>
      (pas.db.prepare(`SELECT COUNT(*) AS n FROM CLINIC_SLOT s JOIN CLINIC c ON c.CLINIC_CODE = s.CLINIC_CODE WHERE c.DOS_SERVICE_ID = ?${status ? ' AND s.SLOT_STATUS = ?' : ''}`).get(...(status ? [DEMO_SERVICE, status] : [DEMO_SERVICE])) as { n: number }).n;
    return { kept, free: slots('F'), total: slots() };
  } finally {
    void pas.close();
  }
}

async function main() {
  mkdirSync(dataDir, { recursive: true });
  for (const p of [port, adminPort]) {
    if (!(await portIsFree(p))) throw new Error(`port ${p} is in use: set FACADE_PORT / ADMIN_PORT / WORKER_ADMIN_PORT to free ports`);
  }

  const pasState = prepareDemoPas();
  if (pasState.kept) {
    console.log(`demo: kept the demo PAS from the last start: ${pasPath} (${pasState.free} of ${pasState.total} demo slots free; \`npm start -- --fresh\` for a new set)`);
    if (slotsAsked !== undefined) console.log(`demo: --slots ${slotCount} applies to a new data set only: add --fresh to use it`);
  } else {
    console.log(`demo: new demo data in ${pasPath}: ${pasState.total} free slots of service ${DEMO_SERVICE} from tomorrow`);
  }

  const node = (entry: string) => ({ command: process.execPath, args: ['--conditions=source', '--import', 'tsx', entry], cwd: root });
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redisPort = await freePortFrom(6379, [port, adminPort]);
    supervisor.start({ name: 'redis-server', command: 'redis-server', args: ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '', '--appendonly', 'no'], env: {}, cwd: root });
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    console.log(`demo: redis-server on ${redisUrl}`);
  }

  // A fresh key per demo run seals the jobs in Redis; production reads its keys from configuration.
  const env = { QUEUE_ENCRYPTION_KEYS: process.env.QUEUE_ENCRYPTION_KEYS ?? Keyring.generate('demo'), QUEUE_ENCRYPTION_KEY_ID: process.env.QUEUE_ENCRYPTION_KEY_ID ?? 'demo', REDIS_URL: redisUrl, PAS_SQLITE_PATH: pasPath, FACADE_PORT: String(port), ADMIN_PORT: String(adminPort), ADMIN_PASSWORD: adminPassword, PROVIDER_ASID: asid };
  const workerPorts: number[] = [];
  for (let i = 1; i <= workerCount; i++) {
    const workerPort = await freePortFrom(workerAdminPort + i - 1, [port, adminPort, ...workerPorts]);
    workerPorts.push(workerPort);
    const spec: ChildSpec = { name: `worker-${i}`, ...node('apps/worker/src/main.ts'), env: { ...env, WORKER_ADMIN_PORT: String(workerPort) } };
    supervisor.start(spec);
  }
  // The demo is plain HTTP on loopback, asked for explicitly: the facade's default is mutual TLS.
  supervisor.start({ name: 'facade', ...node('apps/facade/src/main.ts'), env: { ...env, FACADE_TLS: 'off' } });

  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/health/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('the facade did not become ready within 60 s');
    await sleep(200);
  }

  const pas = new SqlitePas({ path: pasPath });
  const slot = pas.db
    .prepare(`SELECT s.SLOT_ID, s.SLOT_GUID, s.CLINIC_CODE, s.START_DTTM, s.END_DTTM FROM CLINIC_SLOT s JOIN CLINIC c ON c.CLINIC_CODE = s.CLINIC_CODE WHERE c.DOS_SERVICE_ID = ? AND s.SLOT_STATUS = 'F' ORDER BY s.START_DTTM LIMIT 1`)
    .get(DEMO_SERVICE) as { SLOT_ID: number; SLOT_GUID: string; CLINIC_CODE: string; START_DTTM: string; END_DTTM: string } | undefined;
  await pas.close();

  const clock = new LocalClock();
  const bodyPath = resolve(dataDir, 'demo-booking.json');
  if (slot) writeFileSync(bodyPath, JSON.stringify(demoBooking({ id: String(slot.SLOT_ID), guid: slot.SLOT_GUID, schedule: `Schedule/${slot.CLINIC_CODE.trim()}`, start: clock.toInstant(slot.START_DTTM), end: clock.toInstant(slot.END_DTTM) }), null, 2));
  const relBody = existsSync(bodyPath) ? 'data/demo-booking.json' : bodyPath;
  const curl = slot
    ? ` Book the first free demo slot (run from ${root}):

curl -si -X POST '${baseUrl}/Appointment' \\
  -H "Authorization: Bearer $(npm run -s cli -- token patient/appointment.write --audience '${baseUrl}')" \\
  -H 'Ssp-TraceID: ${randomUUID()}' -H 'Ssp-From: 200000000115' -H 'Ssp-To: ${asid}' \\
  -H 'Ssp-InteractionID: urn:nhs:names:services:careconnect:fhir:rest:create:appointment' \\
  -H 'X-Request-ID: ${randomUUID()}' \\
  -H 'Content-Type: application/fhir+json' -H 'Accept: application/fhir+json' \\
  --data @${relBody}

 Same command again → 409 (X-Request-ID reused); with a new X-Request-ID → 422 (slot taken).`
    : ' Every demo slot is booked: `npm start -- --fresh` starts over with a new data set.';
  console.log(`
──────────────────────────────────────────────────────────────────────────────
 NHS Booking API facade (embedded demo) is running
   Base URL (also the JWT "aud"): ${baseUrl}
   Provider ASID (Ssp-To):        ${asid}
   Admin (health):                http://127.0.0.1:${adminPort}/health/ready
   Queue dashboard:               http://127.0.0.1:${adminPort}/dashboard (user admin, password ${adminPassword})
   Metrics (Prometheus):          http://127.0.0.1:${adminPort}/metrics (facade), ${workerPorts.map((p) => `http://127.0.0.1:${p}/metrics`).join(', ')} (workers)
   Demo PAS (SQLite):             ${pasPath} (kept for the next start; --fresh for a new set)
   Processes:                     Redis, ${workerCount} worker(s), the facade; one that dies is restarted
${curl}
 Ctrl-C stops everything.
──────────────────────────────────────────────────────────────────────────────
`);
}

function demoBooking(slot: { id: string; guid: string; schedule: string; start: string; end: string }) {
  return bookingAppointment(
    { id: slot.id, identifier: slot.guid, schedule: slot.schedule, start: slot.start, end: slot.end },
    {
      nhsNumber: '9658218873',
      prefix: 'Mr',
      given: ['Demo'],
      family: 'Patient',
      gender: 'male',
      birthDate: '1980-02-29',
      phone: '01632 960000',
      address: { line: ['1 Demo Street'], city: 'Leeds', postalCode: 'LS1 1AA' },
    },
    'Reason for calling',
  );
}

main().catch((error) => {
  console.error(`demo: ${(error as Error).message}`);
  void stop(1);
});
