/**
 * The embedded demo: a local Redis (unless REDIS_URL is set), the demo SQLite PAS with fresh demo
 * data, one worker and the facade on 127.0.0.1. Ctrl-C stops everything.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateDemoData, LocalClock } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import { Keyring } from '@booking/queue';
import { bookingAppointment } from '@booking/cli/consumer';

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
const children: ChildProcess[] = [];

function run(name: string, command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`demo: ${name} exited (${signal ?? code}); stopping.`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

function portIsFree(p: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer().once('error', () => done(false));
    s.listen(p, '127.0.0.1', () => s.close(() => done(true)));
  });
}

let stopping = false;
async function stop(code = 0) {
  stopping = true;
  for (const child of [...children].reverse()) child.kill('SIGTERM');
  await sleep(500);
  process.exit(code);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

async function main() {
  mkdirSync(dataDir, { recursive: true });
  for (const p of [port, adminPort, workerAdminPort]) {
    if (!(await portIsFree(p))) throw new Error(`port ${p} is in use: set FACADE_PORT / ADMIN_PORT / WORKER_ADMIN_PORT to free ports`);
  }

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    let redisPort = 6379;
    while (!(await portIsFree(redisPort))) redisPort++;
    run('redis-server', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dataDir, '--save', '', '--appendonly', 'no']);
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    console.log(`demo: started redis-server on ${redisUrl}`);
  }

  // Fresh demo data each start, so the free slots always begin tomorrow.
  const pas = new SqlitePas({ path: pasPath });
  loadDemoDataSqlite(pas.db, generateDemoData());
  const slot = pas.db
    .prepare(`SELECT s.SLOT_ID, s.SLOT_GUID, s.CLINIC_CODE, s.START_DTTM, s.END_DTTM FROM CLINIC_SLOT s JOIN CLINIC c ON c.CLINIC_CODE = s.CLINIC_CODE WHERE c.DOS_SERVICE_ID = '999999999' AND s.SLOT_STATUS = 'F' ORDER BY s.START_DTTM LIMIT 1`)
    .get() as { SLOT_ID: number; SLOT_GUID: string; CLINIC_CODE: string; START_DTTM: string; END_DTTM: string };
  await pas.close();

  // A fresh key per demo run seals the jobs in Redis; production reads its keys from configuration.
  const env = { QUEUE_ENCRYPTION_KEYS: process.env.QUEUE_ENCRYPTION_KEYS ?? Keyring.generate('demo'), QUEUE_ENCRYPTION_KEY_ID: process.env.QUEUE_ENCRYPTION_KEY_ID ?? 'demo', REDIS_URL: redisUrl, PAS_SQLITE_PATH: pasPath, FACADE_PORT: String(port), ADMIN_PORT: String(adminPort), WORKER_ADMIN_PORT: String(workerAdminPort), ADMIN_PASSWORD: adminPassword, PROVIDER_ASID: asid };
  run('worker', process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/worker/src/main.ts'], env);
  // The demo is plain HTTP on loopback, asked for explicitly: the facade's default is mutual TLS.
  run('facade', process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/facade/src/main.ts'], { ...env, FACADE_TLS: 'off' });

  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/health/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('the facade did not become ready within 30 s');
    await sleep(200);
  }

  const clock = new LocalClock();
  const bodyPath = resolve(dataDir, 'demo-booking.json');
  writeFileSync(bodyPath, JSON.stringify(demoBooking({ id: String(slot.SLOT_ID), guid: slot.SLOT_GUID, schedule: `Schedule/${slot.CLINIC_CODE.trim()}`, start: clock.toInstant(slot.START_DTTM), end: clock.toInstant(slot.END_DTTM) }), null, 2));
  const relBody = existsSync(bodyPath) ? 'data/demo-booking.json' : bodyPath;
  console.log(`
──────────────────────────────────────────────────────────────────────────────
 NHS Booking API facade (embedded demo) is running
   Base URL (also the JWT "aud"): ${baseUrl}
   Provider ASID (Ssp-To):        ${asid}
   Admin (health):                http://127.0.0.1:${adminPort}/health/ready
   Queue dashboard:               http://127.0.0.1:${adminPort}/dashboard (user admin, password ${adminPassword})
   Metrics (Prometheus):          http://127.0.0.1:${adminPort}/metrics (facade), http://127.0.0.1:${workerAdminPort}/metrics (worker)
   Demo PAS (SQLite):             ${pasPath}
 Book the first free demo slot (run from ${root}):

curl -si -X POST '${baseUrl}/Appointment' \\
  -H "Authorization: Bearer $(npm run -s cli -- token patient/appointment.write --audience '${baseUrl}')" \\
  -H 'Ssp-TraceID: ${randomUUID()}' -H 'Ssp-From: 200000000115' -H 'Ssp-To: ${asid}' \\
  -H 'Ssp-InteractionID: urn:nhs:names:services:careconnect:fhir:rest:create:appointment' \\
  -H 'X-Request-ID: ${randomUUID()}' \\
  -H 'Content-Type: application/fhir+json' -H 'Accept: application/fhir+json' \\
  --data @${relBody}

 Same command again → 409 (X-Request-ID reused); with a new X-Request-ID → 422 (slot taken).
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
