import { createServer, type Server } from 'node:http';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '@booking/queue';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeTestPki, tlsEnv } from './support/certs.js';
import { freePort } from './support/ports.js';
import { pasCounts } from './support/pas.js';
import { cli, cliReadingFirstChunk } from './support/cli.js';
import { Stack } from './support/stack.js';

/** The operator CLI (apps/cli) as trust IT runs it: a real process, real Redis, real PAS files, real stacks. */

let dir: string;
const keys = Keyring.generate('k1');
/** A healthy environment for doctor: the test Redis, a demo SQLite PAS, plain HTTP (no certificates here). */
const healthyEnv = (pasPath: string) => ({ REDIS_URL: inject('redisUrl'), PAS_SQLITE_PATH: pasPath, QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', AUDIT_DIR: join(dir, 'audit') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'booking-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('usage', () => {
  const commands: [string, string[]][] = [
    ['doctor', ['--app', '--json', '--max-skew']],
    ['smoke', ['--base-url', '--asid', '--service', '--cert', '--key', '--ca', '--timeout', '--json']],
    ['demo-data', ['--slots', '--sqlite', '--mssql', '--force']],
    ['consistency', ['--sqlite', '--mssql', '--json']],
    ['audit', ['--from', '--to', '--request-id', '--dir']],
  ];

  it('--help of the program lists every command and the exit codes', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const [name] of commands) expect(r.stdout).toContain(name);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*78\s+configuration error/);
  });

  it.each(commands)('%s --help exits 0 and lists its options', async (name, options) => {
    const r = await cli([name, '--help']);
    expect(r.code, r.stderr).toBe(0);
    for (const option of options) expect(r.stdout).toContain(option);
    expect(r.stdout).toContain('69  service unavailable');
  });

  it('an unknown command, an unknown option, a bad choice or a missing argument exits 2', async () => {
    const runs = await Promise.all([cli(['bogus']), cli(['doctor', '--nope']), cli(['doctor', '--app', 'database']), cli(['smoke']), cli(['demo-data', '--slots', 'many']), cli([])]);
    for (const r of runs) expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(runs[0]?.stderr).toContain("unknown command 'bogus'");
    expect(runs[1]?.stderr).toContain("unknown option '--nope'");
    expect(runs[3]?.stderr).toContain('--base-url');
  });

  it('token refuses an empty --audience (exit 2) instead of printing a token no facade accepts', async () => {
    const r = await cli(['token', 'organization/slot.read', '--audience', '']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('--audience');
  });
});

describe('demo-data, consistency and doctor on a SQLite PAS', () => {
  let pasPath: string;

  beforeAll(async () => {
    pasPath = join(dir, 'pas.sqlite');
    const r = await cli(['demo-data', '--sqlite', pasPath, '--slots', '80']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('service 999999999: 80 free slots');
  });

  it('consistency on fresh demo data exits 0', async () => {
    const r = await cli(['consistency'], { PAS_SQLITE_PATH: pasPath });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('no findings');
  });

  it('doctor against a healthy SQLite PAS and the test Redis exits 0', async () => {
    const r = await cli(['doctor'], healthyEnv(pasPath));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^0 failed/m);
    expect(r.stdout).toMatch(/ok {4}redis {3}PONG from Redis/);
    expect(r.stdout).toContain('maxmemory-policy noeviction');
    expect(r.stdout).toMatch(/ok {4}clock {3}Redis clock/);

    const json = await cli(['doctor', '--json'], healthyEnv(pasPath));
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { ok: boolean; results: { status: string; check: string }[] };
    expect(report.ok).toBe(true);
    expect(new Set(report.results.map((x) => x.check))).toEqual(new Set(['config', 'audit', 'redis', 'clock', 'pas']));
  });

  it('doctor warns (exit 0) about a CONFIG_FILE key and a product variable no app reads, naming the closest setting', async () => {
    const file = join(dir, 'typo-settings.json');
    writeFileSync(file, JSON.stringify({ WORKER_CONCURENCY: 2 }));
    const r = await cli(['doctor', '--app', 'worker'], { ...healthyEnv(pasPath), CONFIG_FILE: file, PAS_TIMEZON: 'Europe/London' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/WARN {2}config {2}CONFIG_FILE key WORKER_CONCURENCY is no setting of the facade or the worker: ignored \(did you mean WORKER_CONCURRENCY\?\)/);
    expect(r.stdout).toMatch(/WARN {2}config {2}environment variable PAS_TIMEZON is no setting .*did you mean PAS_TIMEZONE\?/);
  });

  it('doctor counts the bookable clinics as the slot search finds them: a padded lower-case flag is active, a service id with trailing blanks counts, one with a leading blank or blank throughout does not', async () => {
    const padded = join(dir, 'padded-flags.sqlite');
    copyFileSync(pasPath, padded);
    let db = new Database(padded);
    const active = (db.prepare(`SELECT COUNT(*) AS n FROM CLINIC WHERE ACTIVE_FLAG = 'Y' AND DOS_SERVICE_ID IS NOT NULL`).get() as { n: number }).n;
    expect(active).toBeGreaterThan(1);
    db.exec(`UPDATE CLINIC SET ACTIVE_FLAG = 'y ' WHERE ACTIVE_FLAG = 'Y'`);
    // The search matches the id with trailing blanks ignored (SQL Server's =, RTRIM in SQLite) but
    // not leading ones: ' 999999999' is found by no search, so it is not bookable.
    const [leading, trailing] = db.prepare(`SELECT CLINIC_CODE FROM CLINIC WHERE ACTIVE_FLAG = 'y ' AND DOS_SERVICE_ID IS NOT NULL ORDER BY CLINIC_CODE LIMIT 2`).pluck().all() as string[];
    db.prepare(`UPDATE CLINIC SET DOS_SERVICE_ID = ' ' || DOS_SERVICE_ID WHERE CLINIC_CODE = ?`).run(leading);
    db.prepare(`UPDATE CLINIC SET DOS_SERVICE_ID = DOS_SERVICE_ID || '  ' WHERE CLINIC_CODE = ?`).run(trailing);
    db.close();
    const r = await cli(['doctor', '--app', 'worker'], healthyEnv(padded));
    expect(r.stdout).toMatch(new RegExp(`ok {4}pas {5}${active - 1} active clinic\\(s\\) carry a DoS service id`));

    db = new Database(padded);
    db.exec(`UPDATE CLINIC SET DOS_SERVICE_ID = '   '`);
    db.close();
    const blank = await cli(['doctor', '--app', 'worker'], healthyEnv(padded));
    expect(blank.stdout).toMatch(/WARN {2}pas {5}no active clinic carries a DoS service id/);
  });

  it('doctor against a PAS missing an index and a table exits 1 naming both', async () => {
    const broken = join(dir, 'broken.sqlite');
    copyFileSync(pasPath, broken);
    const db = new Database(broken);
    db.exec('DROP INDEX IX_CLINIC_SLOT_CLINIC_START; DROP TABLE booking_REQUEST_LOG;');
    db.close();
    const r = await cli(['doctor', '--app', 'worker'], healthyEnv(broken));
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}pas {5}table booking_REQUEST_LOG is missing/);
    expect(r.stdout).toMatch(/FAIL {2}pas {5}missing index on CLINIC_SLOT \(CLINIC_CODE, START_DTTM\)/);
    expect(r.stdout).toMatch(/^2 failed/m);
  });

  it('doctor with bad settings exits 78, one line per setting, secrets not echoed', async () => {
    const r = await cli(['doctor'], { ...healthyEnv(pasPath), WORKER_CONCURRENCY: 'lots', QUEUE_ENCRYPTION_KEYS: 'k1:not-a-real-key-secret' });
    expect(r.code, r.stdout + r.stderr).toBe(78);
    expect(r.stdout).toMatch(/FAIL {2}config {2}worker: WORKER_CONCURRENCY: .*got "lots"/);
    expect(r.stdout).toMatch(/FAIL {2}config {2}facade: QUEUE_ENCRYPTION_KEYS: /);
    expect(r.stdout).not.toContain('not-a-real-key-secret');
    // What can still be checked is checked.
    expect(r.stdout).toContain('PONG from Redis');

    const missing = await cli(['doctor', '--app', 'worker'], { ...healthyEnv(pasPath), PAS_ADAPTER: 'mssql' });
    expect(missing.code).toBe(78);
    expect(missing.stdout).toContain('PAS_MSSQL_URL: required when PAS_ADAPTER=mssql');
  });

  it('doctor exits 69 (service unavailable) when what it was to check could not be reached at all', async () => {
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    const r = await cli(['doctor', '--app', 'facade'], { ...healthyEnv(pasPath), REDIS_URL: redisUrl });
    expect(r.code, r.stdout).toBe(69);
    expect(r.stdout).toMatch(/FAIL {2}redis {3}cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    // Neither Redis nor the PAS is there: still 69.
    const neither = await cli(['doctor', '--app', 'worker'], { ...healthyEnv(join(dir, 'no-pas.sqlite')), REDIS_URL: redisUrl });
    expect(neither.code, neither.stdout).toBe(69);
    expect(neither.stdout).toMatch(/FAIL {2}pas {5}PAS: no SQLite file at /);
    // An unreachable Redis beside a real finding (a PAS lacking a table) is a finding: 1.
    const broken = join(dir, 'pas-no-log.sqlite');
    copyFileSync(pasPath, broken);
    const db = new Database(broken);
    db.exec('DROP TABLE booking_REQUEST_LOG;');
    db.close();
    const both = await cli(['doctor', '--app', 'worker'], { ...healthyEnv(broken), REDIS_URL: redisUrl });
    expect(both.code, both.stdout).toBe(1);
  });

  it('consistency exits 1 naming double-booked-slots once a slot holds two active appointments; demo-data refuses non-demo data without --force', async () => {
    const corrupt = join(dir, 'corrupt.sqlite');
    copyFileSync(pasPath, corrupt);
    const db = new Database(corrupt);
    const slot = db.prepare(`SELECT SLOT_ID, START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE SLOT_STATUS = 'F' ORDER BY SLOT_ID LIMIT 1`).get() as { SLOT_ID: number; START_DTTM: string; END_DTTM: string };
    const patient = db.prepare(`INSERT INTO PATIENT (SURNAME, SEX, DOB, REG_TYPE, CREATED_DTTM) VALUES ('TEST', 'U', '2000-01-01 00:00:00', 'T', '2025-01-01 00:00:00')`).run().lastInsertRowid;
    const appt = db.prepare(`INSERT INTO APPOINTMENT (SLOT_ID, PATIENT_ID, APPT_STATUS, START_DTTM, END_DTTM, SOURCE_CODE, BOOKED_DTTM) VALUES (?, ?, 'B', ?, ?, 'TEST', '2025-01-01 00:00:00')`);
    appt.run(slot.SLOT_ID, patient, slot.START_DTTM, slot.END_DTTM);
    appt.run(slot.SLOT_ID, patient, slot.START_DTTM, slot.END_DTTM);
    db.close();

    const r = await cli(['consistency', '--sqlite', corrupt]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}double-booked-slots/);
    expect(r.stdout).toContain(`key(s): ${slot.SLOT_ID}`);
    const json = await cli(['consistency', '--sqlite', corrupt, '--json']);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { findings: { check: string; keys: string[] }[] }).findings).toContainEqual(expect.objectContaining({ check: 'double-booked-slots', keys: [String(slot.SLOT_ID)] }));

    // Appointments on demo clinics are demo data; a clinic of the trust's own is not.
    const trust = new Database(corrupt);
    trust.prepare(`INSERT INTO CLINIC (CLINIC_CODE, CLINIC_NAME, ORG_CODE, ACTIVE_FLAG) VALUES ('CARDIO01', 'Cardiology', 'RDM010', 'Y')`).run();
    trust.close();
    const refused = await cli(['demo-data', '--sqlite', corrupt]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refusing to overwrite');
    expect(refused.stderr).toContain('1 non-demo clinic(s)');
    const forced = await cli(['demo-data', '--sqlite', corrupt, '--force']);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect((await cli(['consistency', '--sqlite', corrupt])).code).toBe(0);
  });

  it('consistency exits 69 when the PAS is not there, 78 when the settings are wrong', async () => {
    expect((await cli(['consistency', '--sqlite', join(dir, 'nowhere.sqlite')])).code).toBe(69);
    const bad = await cli(['consistency'], { PAS_ADAPTER: 'oracle' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('PAS_ADAPTER');
    const zone = await cli(['consistency', '--sqlite', pasPath], { PAS_TIMEZONE: 'Europe/Londn' });
    expect(zone.code, zone.stderr).toBe(78);
    expect(zone.stderr.trim()).toMatch(/^booking-facade: configuration error: PAS_TIMEZONE: unknown time zone/);
  });
});

describe('audit', () => {
  it('prints every record of a busy day from several processes\u2019 files, in time order, to a pipe', async () => {
    const auditDir = join(dir, 'audit-busy');
    mkdirSync(auditDir);
    // Two processes' files (each in time order), a few MB of JSON lines together: more than a pipe holds.
    const per = 12000;
    const line = (i: number, proc: number) => `${JSON.stringify({ time: new Date(Date.UTC(2026, 10, 30) + i * 5000 + proc * 2500).toISOString(), event: 'request', interaction: 'read', status: 200, outcome: 'ok', requestId: `${proc}-${i}`, path: '/STU3/1/Appointment/x'.padEnd(120, 'x') })}\n`;
    for (const proc of [1, 2]) writeFileSync(join(auditDir, `audit-2026-11-30.host-${proc}.jsonl`), Array.from({ length: per }, (_, i) => line(i, proc)).join(''));
    const r = await cli(['audit', '--from', '2026-11-30T00:00:00Z', '--to', '2026-11-30T23:59:59.999Z', '--dir', auditDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`audit: ${2 * per} record(s)`);
    const ids = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    expect(ids).toHaveLength(2 * per);
    expect(ids.slice(0, 4)).toEqual(['1-0', '2-0', '1-1', '2-1']);
    expect(ids.at(-1)).toBe(`2-${per - 1}`);
  });
});

describe('audit refuses what would look like a quiet day', () => {
  const range = ['--from', '2026-01-01T00:00:00Z', '--to', '2026-12-31T23:59:59Z'];

  it('a directory that is not there exits 78 naming --dir or AUDIT_DIR, not "0 record(s)"', async () => {
    const typo = await cli(['audit', ...range, '--dir', join(dir, 'no-such-audit')]);
    expect(typo.code, typo.stderr).toBe(78);
    expect(typo.stderr.trim()).toBe(`booking-facade: configuration error: --dir: no audit directory at ${join(dir, 'no-such-audit')}`);
    const setting = await cli(['audit', ...range], { AUDIT_DIR: '/etc/passwd/audit' });
    expect(setting.code, setting.stderr).toBe(78);
    expect(setting.stderr.trim()).toBe('booking-facade: configuration error: AUDIT_DIR: no audit directory at /etc/passwd/audit');
  });

  it('--from after --to is a usage error (exit 2), not an empty answer', async () => {
    const auditDir = join(dir, 'audit-empty');
    mkdirSync(auditDir, { recursive: true });
    const r = await cli(['audit', '--from', '2026-12-31T00:00:00Z', '--to', '2026-01-01T00:00:00Z', '--dir', auditDir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--from \(2026-12-31T00:00:00Z\) is after --to \(2026-01-01T00:00:00Z\)/);
  });

  it('a reader that stops early (| head) ends the output quietly with exit 0, not an EPIPE stack', async () => {
    const auditDir = join(dir, 'audit-head');
    mkdirSync(auditDir, { recursive: true });
    const line = (i: number) => `${JSON.stringify({ time: new Date(Date.UTC(2026, 10, 30) + i * 1000).toISOString(), event: 'request', interaction: 'read', status: 200, outcome: 'ok', requestId: `r-${i}`, path: '/STU3/1/Appointment/x'.padEnd(200, 'x') })}\n`;
    writeFileSync(join(auditDir, 'audit-2026-11-30.host-1.jsonl'), Array.from({ length: 20000 }, (_, i) => line(i)).join(''));
    const { code, stderr } = await cliReadingFirstChunk(['audit', '--from', '2026-11-30T00:00:00Z', '--to', '2026-11-30T23:59:59Z', '--dir', auditDir]);
    expect(stderr).not.toContain('EPIPE');
    expect(code, stderr).toBe(0);
  });
});

describe('smoke against a running stack', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('runs the whole journey, exits 0 and leaves no active appointment behind', async () => {
    const since = new Date().toISOString();
    const r = await cli(['smoke', '--base-url', stack.baseUrl]);
    expect(r.code, `${r.stdout}${r.stderr}\n${stack.logs()}`).toBe(0);
    for (const step of ['metadata', 'search-slots', 'book', 'read', 'cancel', 'slot-free-again']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${step} +\\d{3} +\\d+ ms`));
    expect(r.stdout).toMatch(/PASS {2}book {13}201/);

    const db = stack.openPas();
    const counts = pasCounts(db);
    const patient = db.prepare(`SELECT NHS_NO, SURNAME, REG_TYPE FROM PATIENT WHERE SURNAME = 'SMOKETEST'`).get() as { NHS_NO: string; SURNAME: string; REG_TYPE: string };
    db.close();
    expect(counts.appointments).toBe(1);
    expect(counts.activeAppointments).toBe(0);
    expect(counts.versions).toBe(2); // booked, then cancelled
    expect(patient).toEqual({ NHS_NO: '9990000018', SURNAME: 'SMOKETEST', REG_TYPE: 'T' });
    expect((await cli(['consistency', '--sqlite', stack.pasPath])).code).toBe(0);

    // The facade audited every step; the audit command reads them back.
    const audit = await cli(['audit', '--from', since, '--to', new Date().toISOString(), '--dir', stack.auditDir]);
    expect(audit.code, audit.stderr).toBe(0);
    const records = audit.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.length).toBeGreaterThanOrEqual(6);
  });

  it('a reader that stops early (| head) does not stop the journey: smoke still books, cancels and exits with its own code', async () => {
    const db = stack.openPas();
    const before = pasCounts(db);
    db.close();
    // The reader takes the first line and closes the pipe before anything is booked.
    const { code, stderr } = await cliReadingFirstChunk(['smoke', '--base-url', stack.baseUrl]);
    expect(stderr).not.toContain('EPIPE');
    expect(code, stderr).toBe(0);
    const after = stack.openPas();
    const counts = pasCounts(after);
    after.close();
    // The whole journey ran after the pipe closed: one more appointment, booked then cancelled.
    expect(counts.appointments).toBe(before.appointments + 1);
    expect(counts.versions).toBe(before.versions + 2);
    expect(counts.activeAppointments).toBe(0);
  });

  it('a reader that stops early does not hide a failure: smoke that fails after the pipe closed still exits 1 and cleans up', async () => {
    const proxy = await breakingProxy('read');
    try {
      const { code, stderr } = await cliReadingFirstChunk(['smoke', '--base-url', proxy.url, '--audience', stack.baseUrl]);
      expect(code, stderr).toBe(1);
    } finally {
      proxy.server.close();
    }
    const db = stack.openPas();
    expect(pasCounts(db).activeAppointments).toBe(0);
    db.close();
  });

  it('a second run passes too (the slot was freed) and --json is machine-readable', async () => {
    const r = await cli(['smoke', '--base-url', stack.baseUrl, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; steps: { step: string; ok: boolean; status: number }[] };
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(['metadata', 'search-slots', 'book', 'read', 'cancel', 'slot-free-again']);
  });

  it('an empty --audience is no audience: the JWT aud is --base-url (a shell variable that is not set passes "")', async () => {
    const r = await cli(['smoke', '--base-url', stack.baseUrl, '--audience', '']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASS {2}metadata +200/);
  });

  it('fails (exit 1) on a rejected step: a wrong JWT audience', async () => {
    const r = await cli(['smoke', '--base-url', stack.baseUrl, '--audience', 'https://elsewhere.example.nhs.uk/STU3/1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}metadata +403/);
  });

  /**
   * A proxy in front of the facade that breaks one interaction, so smoke meets a failure after it
   * booked: 'read' answers 500 instead of the appointment; 'book' books, then loses the answer.
   */
  async function breakingProxy(breaks: 'read' | 'book'): Promise<{ url: string; server: Server }> {
    const target = new URL(stack.baseUrl);
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const path = req.url ?? '/';
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length', 'accept-encoding'].includes(k))) as Record<string, string>;
        const injected = () => {
          res.writeHead(500, { 'Content-Type': 'application/fhir+json' });
          res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'injected by the test proxy' }] }));
        };
        if (breaks === 'read' && req.method === 'GET' && /\/Appointment\/[^/?]+$/.test(path)) return injected();
        const upstream = await fetch(`${target.origin}${path}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
        const body = Buffer.from(await upstream.arrayBuffer());
        if (breaks === 'book' && req.method === 'POST') return injected();
        res.writeHead(upstream.status, Object.fromEntries([...upstream.headers].filter(([k]) => !['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k))));
        res.end(body);
      });
    });
    const port = await freePort();
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    return { url: `http://127.0.0.1:${port}${target.pathname}`, server };
  }

  it.each([
    ['read', 'the read fails'],
    ['book', 'the answer to the booking is lost'],
  ] as const)('cancels what it booked when %s breaks: %s (exit 1, nothing left booked)', async (breaks: 'read' | 'book', _why: string) => {
    const proxy = await breakingProxy(breaks);
    try {
      const r = await cli(['smoke', '--base-url', proxy.url, '--audience', stack.baseUrl]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`FAIL {2}${breaks} +500`));
      if (breaks === 'book') expect(r.stdout).toMatch(/PASS {2}cleanup-search +200 .* 1 booked SMOKETEST appointment/);
      expect(r.stdout).toMatch(/PASS {2}cleanup-cancel +200 .* cancelled/);
    } finally {
      proxy.server.close();
    }
    const db = stack.openPas();
    expect(pasCounts(db).activeAppointments).toBe(0);
    db.close();
  });

  it('exits 69 against a URL where nothing listens', async () => {
    const r = await cli(['smoke', '--base-url', `http://127.0.0.1:${await freePort()}/STU3/1`]);
    expect(r.code).toBe(69);
    expect(r.stdout).toMatch(/FAIL {2}metadata/);
  });
});

describe('smoke over mutual TLS', () => {
  let stack: Stack;
  let tlsDir: string;
  let client: { cert: string; key: string; ca: string };

  beforeAll(async () => {
    tlsDir = mkdtempSync(join(tmpdir(), 'booking-cli-tls-'));
    const pki = await makeTestPki(tlsDir);
    client = { cert: join(tlsDir, 'ssp.crt'), key: join(tlsDir, 'ssp.key'), ca: pki.files.ca };
    writeFileSync(client.cert, pki.ssp.cert);
    writeFileSync(client.key, pki.ssp.key, { mode: 0o600 });
    stack = await Stack.start({ redisUrl: inject('redisUrl'), workers: 1, env: tlsEnv(pki) });
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(tlsDir, { recursive: true, force: true });
  });

  it('presents --cert/--key, verifies the facade with --ca, and passes', async () => {
    expect(stack.baseUrl).toMatch(/^https:/);
    const r = await cli(['smoke', '--base-url', stack.baseUrl, '--cert', client.cert, '--key', client.key, '--ca', client.ca]);
    expect(r.code, `${r.stdout}${r.stderr}\n${stack.logs()}`).toBe(0);
    const db = stack.openPas();
    expect(pasCounts(db).activeAppointments).toBe(0);
    db.close();
  });

  it('without a client certificate the facade refuses and smoke says so (exit 69)', async () => {
    const r = await cli(['smoke', '--base-url', stack.baseUrl, '--ca', client.ca]);
    expect(r.code).toBe(69);
  });
});
