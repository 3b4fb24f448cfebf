import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { unsignedJwt } from '@booking/cli/consumer';
import { problems } from '@booking/fhir';
import { bundleReply, type PasJob, type WorkerReply } from '@booking/queue';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditRecord } from '../src/audit/log.js';
import { JobError } from '../src/job-runner.js';
import { createFacadeMetrics } from '../src/observability/metrics.js';
import { observeRequests } from '../src/observability/request.js';
import { BASE, booking, headersFor, inProcessApp } from './support.js';

/**
 * What the people running the facade see of a request, in process, with the app wired as main.ts
 * wires it: its log lines, its metrics and its audit record.
 */

type Audit = Pick<AuditLog, 'write' | 'append'>;

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function wired(options: { audit?: Audit; reply?: (job: PasJob) => Promise<WorkerReply> | WorkerReply } = {}) {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  const metrics = createFacadeMetrics([]);
  const { app } = inProcessApp(options.reply ?? (() => ({ type: 'problem', problem: problems.notFound('Appointment/abc is not known to this provider') })), {
    ...(options.audit ? { audit: options.audit as AuditLog } : {}),
    onError: (error, log) => (log ?? logger).error({ err: error.message }, 'unhandled error'), // main.ts's
    observe: observeRequests({ logger, metrics, tracing: false }),
  });
  return { app, lines, metrics };
}

function auditDir() {
  const dir = mkdtempSync(join(tmpdir(), 'facade-obs-'));
  dirs.push(dir);
  return dir;
}
const records = (dir: string): AuditRecord[] =>
  readdirSync(dir)
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l));

const counted = async (metrics: ReturnType<typeof createFacadeMetrics>, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1] ?? 0);

describe('a job that gives no usable reply', () => {
  it('a search answer in a format this facade does not read (a worker of another release): logged and counted as reply-unreadable', async () => {
    const { app, lines, metrics } = wired({ reply: () => ({ type: 'bundle', bundle: { resourceType: 'Bundle' } }) as unknown as WorkerReply });
    const res = await app.request(`${BASE}/Slot?service=999999999`, { headers: headersFor('searchSlot') });
    expect(res.status).toBe(500);
    expect(lines.find((l) => l.reason === 'reply-unreadable')).toMatchObject({ level: 50, kind: 'search-slot' });
    expect(await counted(metrics, 'booking_job_failures_total', 'interaction="search-slot",reason="reply-unreadable"')).toBe(1);
  });

  it.each([
    ['reply-unreadable', 'the worker\u2019s reply does not open: sealed with unknown key "k2"'],
    ['job-failed', 'the job threw in the worker'],
    ['timeout', 'no reply from a worker within 1000 ms'],
    ['queue-unavailable', 'the queue is unavailable: no connection to Redis within 1000 ms'],
  ] as const)('%s: a 500 to the consumer; the log says why at error level, with the request\u2019s ids; counted by reason', async (reason, message) => {
    const { app, lines, metrics } = wired({
      reply: () => {
        throw new JobError(reason, message);
      },
    });
    const res = await app.request(`${BASE}/Appointment/abc`, { headers: headersFor('read', { 'X-Request-ID': 'b3c1d2e4-5f60-4a7b-8c9d-0e1f2a3b4c5d' }) });
    expect(res.status).toBe(500);
    const line = lines.find((l) => l.reason === reason);
    expect(line).toMatchObject({ level: 50, reason, err: message, kind: 'read', requestId: res.headers.get('x-request-id'), correlationId: 'b3c1d2e4-5f60-4a7b-8c9d-0e1f2a3b4c5d' });
    expect(await counted(metrics, 'booking_job_failures_total', `interaction="read",reason="${reason}"`)).toBe(1);
  });
});

describe('what the consumer is told of a job without a reply', () => {
  const redisRefusal = "the queue did not confirm the job (NOPERM User booking has no permissions to run the 'evalsha' command; OOM command not allowed when used memory > 'maxmemory'.), so it may still run";

  it.each([
    ['a read', 'GET', `${BASE}/Appointment/abc`, 'read', undefined, /Retry the request\.$/],
    ['a booking', 'POST', `${BASE}/Appointment`, 'book', JSON.stringify(booking()), /Retry with the same X-Request-ID to learn it\.$/],
  ] as const)('%s: a fixed text with its advice, never Redis\u2019s words; the log keeps them', async (_what, method, url, interaction, body, advice) => {
    const { app, lines } = wired({
      reply: () => {
        throw new JobError('timeout', redisRefusal);
      },
    });
    const res = await app.request(url, { method, headers: headersFor(interaction), ...(body ? { body } : {}) });
    expect(res.status).toBe(500);
    const diagnostics = ((await res.json()) as { issue: { diagnostics: string }[] }).issue[0]?.diagnostics;
    expect(diagnostics).toMatch(/^The outcome is unknown: /);
    expect(diagnostics).toMatch(advice);
    expect(diagnostics).not.toMatch(/NOPERM|OOM|maxmemory|evalsha|booking has|queue did not confirm/);
    expect(lines.find((l) => l.reason === 'timeout')?.err).toBe(redisRefusal);
  });
});

describe('refusals', () => {
  const who = { iss: 'https://consumer.example.nhs.uk/', sub: '10019', device: { system: 'https://consumer.example.nhs.uk/Id/device', value: 'd', model: 'm' }, organization: { name: 'Test 111', ods: 'RYA' } };

  it('a 403 for a token issued "in the future" (a clock ahead): the reason is in the request\u2019s log line (info) and its audit record', async () => {
    const dir = auditDir();
    const audit = new AuditLog(dir);
    const { app, lines } = wired({ audit });
    const ahead = Math.floor(Date.now() / 1000) + 120;
    const token = unsignedJwt(BASE, 'patient/appointment.read', who as never, { iat: ahead, exp: ahead + 300 });
    const res = await app.request(`${BASE}/Appointment/abc`, { headers: headersFor('read', { Authorization: `Bearer ${token}` }) });
    await audit.close();
    expect(res.status).toBe(403);
    const line = lines.find((l) => l.msg === 'request');
    expect(line).toMatchObject({ level: 30, status: 403, code: 'ACCESS DENIED', requestId: res.headers.get('x-request-id') });
    expect(line?.reason).toMatch(/in the future/);
    const [record] = records(dir);
    expect(record).toMatchObject({ status: 403, outcome: 'ACCESS DENIED' });
    expect(record?.reason).toMatch(/in the future/);
  });

  it('a 422 whose diagnostics quote the body: the log line and the audit record name the element, never its value', async () => {
    const dir = auditDir();
    const audit = new AuditLog(dir);
    const { app, lines } = wired({ audit });
    const body = booking();
    body.contained.find((r: { resourceType: string }) => r.resourceType === 'Patient').birthDate = '1931-13-45';
    const res = await app.request(`${BASE}/Appointment`, { method: 'POST', body: JSON.stringify(body), headers: headersFor('book', { 'Content-Type': 'application/fhir+json' }) });
    await audit.close();
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('1931-13-45'); // the consumer is told the value it sent
    const line = lines.find((l) => l.msg === 'request');
    expect(line).toMatchObject({ status: 422, code: 'INVALID_RESOURCE', elements: [expect.stringMatching(/birthDate$/)] });
    expect(line?.reason).toBeUndefined();
    const [record] = records(dir);
    expect(record).toMatchObject({ outcome: 'INVALID_RESOURCE', elements: [expect.stringMatching(/birthDate$/)] });
    expect(JSON.stringify(lines) + JSON.stringify(record)).not.toContain('1931-13-45');
  });

  it('a mis-encoded search whose parameter name carries an NHS number, and a 415 for such a _format: neither the number nor the text is kept', async () => {
    const dir = auditDir();
    const audit = new AuditLog(dir);
    const { app, lines } = wired({ audit });
    const misEncoded = await app.request(`${BASE}/Appointment?identifier%3Dhttps%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919=x`, { headers: headersFor('searchAppointment') });
    expect(misEncoded.status).toBe(400);
    const format = await app.request(`${BASE}/metadata?_format=json%26identifier%3D9434765919`, { headers: headersFor('metadata') });
    expect(format.status).toBe(415);
    const long = await app.request(`${BASE}/Slot?${'x'.repeat(5000)}=1`, { headers: headersFor('searchSlot') });
    expect(long.status).toBe(400);
    await audit.close();
    const kept = JSON.stringify(lines) + JSON.stringify(records(dir));
    expect(kept).not.toContain('9434765919');
    expect(kept).not.toContain('x'.repeat(100));
    expect(lines.filter((l) => l.msg === 'request').map((l) => l.code)).toEqual(['INVALID_PARAMETER', 'UNSUPPORTED_MEDIA_TYPE', 'INVALID_PARAMETER']);
  });

  it('a 400 for an NHS-number search that does not parse: the parameter, never the number', async () => {
    const { app, lines } = wired();
    const res = await app.request(`${BASE}/Appointment?identifier=9434765910`, { headers: headersFor('searchAppointment') });
    expect(res.status).toBe(400);
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ code: 'INVALID_PARAMETER', elements: ['identifier'] });
    expect(JSON.stringify(lines)).not.toContain('9434765910');
  });
});

describe('the durable audit write', () => {
  it('is inside the request\u2019s duration and log line: neither is recorded before the write is done', async () => {
    let written: () => void = () => {};
    let writing: (value?: unknown) => void = () => {};
    const started = new Promise((resolve) => {
      writing = resolve;
    });
    const audit: Audit = {
      write: () => {
        writing();
        return new Promise<void>((resolve) => {
          written = resolve;
        });
      },
      append: () => {},
    };
    const { app, lines, metrics } = wired({ audit });
    const answer = app.request(`${BASE}/Appointment/abc`, { headers: headersFor('read') });
    await started;
    await new Promise((resolve) => setImmediate(resolve));
    // The consumer is still waiting for the disk: nothing may say the request is answered yet.
    expect(lines.filter((l) => l.msg === 'request')).toEqual([]);
    expect(await counted(metrics, 'booking_http_request_duration_seconds_count', 'interaction="read",status="404"')).toBe(0);
    written();
    expect((await answer).status).toBe(404);
    expect(lines.filter((l) => l.msg === 'request')).toHaveLength(1);
    expect(await counted(metrics, 'booking_http_request_duration_seconds_count', 'interaction="read",status="404"')).toBe(1);
  });

  it('that fails is logged with the ids, interaction and status of the request left unaudited', async () => {
    const { app, lines } = wired({ audit: { write: async () => Promise.reject(new Error('ENOSPC: no space left on device')), append: () => {} } });
    const res = await app.request(`${BASE}/Appointment/abc`, { headers: headersFor('read', { 'X-Request-ID': 'c4d2e3f5-6a71-4b8c-9dae-1f2a3b4c5d6e' }) });
    expect(res.status).toBe(404); // the answer still goes
    const failure = lines.find((l) => String(l.err).includes('AUDIT WRITE FAILED'));
    expect(failure).toMatchObject({
      level: 50,
      err: 'AUDIT WRITE FAILED: ENOSPC: no space left on device',
      requestId: res.headers.get('x-request-id'),
      correlationId: 'c4d2e3f5-6a71-4b8c-9dae-1f2a3b4c5d6e',
      sspTraceId: expect.any(String),
      interaction: 'read',
      status: 404,
    });
  });
});

describe('an Appointment search by NHS number', () => {
  const NHS = '9658218873';
  const appointment = (id: string) => ({ ...booking(), id, meta: { versionId: '1', lastUpdated: '2030-01-01T09:00:00.000Z' } });

  it.each([['gzip'], ['identity']])('its audit record names the appointments disclosed and the NHS number searched for, in its own field only (Accept-Encoding: %s)', async (encoding) => {
    const dir = auditDir();
    const audit = new AuditLog(dir);
    const bundle = { resourceType: 'Bundle', type: 'searchset', total: 2, entry: [{ resource: appointment('a1') }, { resource: appointment('a2') }] };
    const { app } = wired({ audit, reply: () => bundleReply(bundle) });
    const res = await app.request(`${BASE}/Appointment?identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${NHS}`)}`, {
      headers: headersFor('searchAppointment', { 'Accept-Encoding': encoding }),
    });
    await audit.close();
    expect(res.status).toBe(200);
    const [record] = records(dir);
    expect(record).toMatchObject({ interaction: 'search-appointment', status: 200, appointmentIds: ['a1', 'a2'], searchedNhsNumber: NHS, requestId: res.headers.get('x-request-id') });
    // Not in the path (no query string) nor anywhere else in the record.
    expect(JSON.stringify({ ...record, searchedNhsNumber: undefined })).not.toContain(NHS);
  });

  it('a slot search\u2019s Bundle is sent without being read', async () => {
    const dir = auditDir();
    const audit = new AuditLog(dir);
    const { app } = wired({ audit, reply: () => ({ type: 'bundle', gzip: Buffer.from('not gzip').toString('base64') }) });
    const res = await app.request(`${BASE}/Slot?service=999999999&start=${encodeURIComponent('ge2030-01-01T00:00:00+00:00')}`, { headers: headersFor('searchSlot', { 'Accept-Encoding': 'gzip' }) });
    await audit.close();
    expect(res.status).toBe(200);
    expect(records(dir)[0]).not.toHaveProperty('appointmentIds');
  });
});
