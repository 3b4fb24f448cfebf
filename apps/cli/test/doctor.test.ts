import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { TABLES } from '@booking/pas';
import sql from 'mssql';
import { describe, expect, inject, it, vi } from 'vitest';
import { makeTestPki } from '../../../test/support/certs.js';
import { freePort } from '../../../test/support/ports.js';
import { configFix, crlFindings, doctor } from '../src/commands/doctor.js';
import { EXIT } from '../src/exit-codes.js';
import { mssqlConnectError } from '../src/pas-access.js';
import type { CheckResult } from '../src/report.js';
import { facadeProblems, placeholderSettings, unknownSettings, workerProblems } from '../src/settings.js';
import {
  columnTypeFindings,
  columnTypeVerdict,
  configuredStatusCodes,
  DEFAULT_STATUS_CODES,
  slotSearchIndexFindings,
  statusCodeFindings,
  triggerFindings,
} from '../src/pas-mapping-checks.js';
import type { Catalog, CatalogEntry, ColumnType } from '../src/pas-schema.js';

/**
 * doctor's decisions about a trust's mapping, over fake catalogue rows (no SQL Server here): what a
 * column type does to conversions and seeks, stored status codes against the mapping, triggers
 * that falsify row counts, and the slot search's covering index.
 */

const t = (type: string, length: number | null = null, collation: string | null = null): ColumnType => ({ type, length, collation });
const defaults = { appointment: [...DEFAULT_STATUS_CODES.appointment], slot: [...DEFAULT_STATUS_CODES.slot], source: 'defaults' };

/** The reference types of the legacy columns (docker/pas/01-legacy-schema.sql). */
function referenceType(column: string): ColumnType {
  if (column.endsWith('_DTTM') || column === 'DOB') return t('datetime');
  if (['SLOT_ID', 'PATIENT_ID', 'APPT_ID'].includes(column)) return t('int');
  if (column === 'SLOT_GUID') return t('uniqueidentifier');
  return t('varchar', 50, 'SQL_Latin1_General_CP1_CI_AS');
}

function entry(name: string, over: Partial<CatalogEntry> = {}, types: Record<string, ColumnType> = {}): CatalogEntry {
  const table = TABLES.find((x) => x.name === name);
  const columns = [...new Set([...(table?.reads ?? []), ...(table?.inserts ?? []), ...(table?.updates ?? [])])];
  const columnTypes = new Map(columns.map((c) => [c, types[c] ?? referenceType(c)]));
  // Free text in Unicode, as a careful DBA would have it.
  for (const c of ['TITLE', 'FORENAMES', 'SURNAME', 'ADDR_LINE1', 'ADDR_LINE2']) if (name === 'PATIENT' && !types[c]) columnTypes.set(c, t('nvarchar', 50));
  if (name === 'APPOINTMENT' && !types.REASON) columnTypes.set('REASON', t('nvarchar', 255));
  return { actual: `dbo.${name}`, type: 'table', columns: new Set(columns), indexes: [], columnTypes, triggers: [], ...over };
}

function catalog(...entries: [string, CatalogEntry][]): Catalog {
  const all: Catalog = new Map(TABLES.filter((x) => !x.product).map((x) => [x.name, entry(x.name)]));
  for (const [name, e] of entries) all.set(name, e);
  return all;
}

describe('doctor: column types of mapped columns', () => {
  it('passes the reference types with one line', () => {
    const findings = columnTypeFindings(catalog(), TABLES);
    expect(findings).toEqual([{ status: 'ok', subject: 'column types', message: expect.stringMatching(/mapped legacy columns have the types the adapter binds/) }]);
  });

  it('warns on SMALLDATETIME and DATETIME2 (conversions and seeks), fails on DATE and DATETIMEOFFSET', () => {
    expect(columnTypeVerdict('CLINIC_SLOT', 'START_DTTM', t('smalldatetime'))).toMatchObject({ status: 'warn', message: expect.stringMatching(/converted in every comparison.*minute/) });
    expect(columnTypeVerdict('CLINIC_SLOT', 'START_DTTM', t('datetime2'))).toMatchObject({ status: 'warn', message: expect.stringMatching(/DATETIME2/) });
    expect(columnTypeVerdict('CLINIC_SLOT', 'START_DTTM', t('date'))?.status).toBe('fail');
    expect(columnTypeVerdict('APPOINTMENT', 'START_DTTM', t('datetimeoffset'))?.status).toBe('fail');
    expect(columnTypeVerdict('CLINIC_SLOT', 'START_DTTM', t('datetime'))).toBeUndefined();
  });

  it('warns on NVARCHAR code columns, but wants Unicode (or UTF-8) for the free text it writes', () => {
    expect(columnTypeVerdict('CLINIC', 'DOS_SERVICE_ID', t('nvarchar', 20))).toMatchObject({ status: 'warn', message: expect.stringMatching(/NVARCHAR\(20\)/) });
    expect(columnTypeVerdict('PATIENT', 'SURNAME', t('nvarchar', 50))).toBeUndefined();
    expect(columnTypeVerdict('PATIENT', 'SURNAME', t('varchar', 50, 'Latin1_General_CI_AS'))).toMatchObject({ status: 'warn', message: expect.stringMatching(/Ll\u0177r/) });
    expect(columnTypeVerdict('PATIENT', 'SURNAME', t('varchar', 50, 'Latin1_General_100_CI_AS_SC_UTF8'))).toBeUndefined();
  });

  it('fails a code column too narrow for what the adapter writes, and ids and GUIDs of the wrong kind', () => {
    expect(columnTypeVerdict('PATIENT', 'HOSP_NO', t('char', 8))).toMatchObject({ status: 'fail', fix: expect.stringMatching(/at least 10/) });
    expect(columnTypeVerdict('CLINIC_SLOT', 'SLOT_ID', t('bigint'))?.status).toBe('warn');
    expect(columnTypeVerdict('CLINIC_SLOT', 'SLOT_ID', t('varchar', 10))?.status).toBe('fail');
    expect(columnTypeVerdict('CLINIC_SLOT', 'SLOT_GUID', t('char', 36))).toMatchObject({ status: 'warn', message: expect.stringMatching(/scans/) });
    expect(columnTypeVerdict('CLINIC_SLOT', 'SLOT_STATUS', t('int'))?.status).toBe('fail');
  });

  it('reports each offending column of a mapping, and nothing for the product tables', () => {
    const findings = columnTypeFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', {}, { START_DTTM: t('smalldatetime'), SLOT_GUID: t('varchar', 36) })]), TABLES);
    expect(findings.map((f) => [f.status, f.subject])).toEqual([
      ['warn', 'CLINIC_SLOT'],
      ['warn', 'CLINIC_SLOT'],
    ]);
    const text = findings.map((f) => f.message).join('\n');
    expect(text).toContain('CLINIC_SLOT.START_DTTM is SMALLDATETIME');
    expect(text).toContain('CLINIC_SLOT.SLOT_GUID is VARCHAR(36)');
  });
});

describe('doctor: stored status codes against the mapping', () => {
  it('accepts stored codes the mapping knows, compared trimmed and ignoring case', () => {
    const findings = statusCodeFindings('APPOINTMENT.APPT_STATUS', [{ code: 'B', n: 10 }, { code: 'c', n: 3 }, { code: 'H ', n: 1 }], defaults);
    expect(findings).toEqual([{ status: 'ok', subject: 'APPOINTMENT', message: 'APPOINTMENT.APPT_STATUS: every stored code (B, C, H) is in the reference codes' }]);
  });

  it('warns on unknown appointment codes, most frequent first, and fails on unknown slot codes', () => {
    const appt = statusCodeFindings('APPOINTMENT.APPT_STATUS', [{ code: 'B', n: 10 }, { code: 'Q', n: 2 }, { code: 'W', n: 7 }, { code: null, n: 1 }], defaults);
    expect(appt).toHaveLength(1);
    expect(appt[0]).toMatchObject({ status: 'warn', subject: 'APPOINTMENT' });
    expect(appt[0]?.message).toContain("'W' (7 rows), 'Q' (2 rows), '(NULL)' (1 row)");
    const slot = statusCodeFindings('CLINIC_SLOT.SLOT_STATUS', [{ code: 'F', n: 100 }, { code: 'R', n: 4 }], defaults);
    expect(slot[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/'R' \(4 rows\)/) });
  });

  it('uses the worker\u2019s status-mapping settings when it has them, else the reference codes', () => {
    expect(configuredStatusCodes({})).toMatchObject({ source: 'defaults', appointment: ['B', 'A', 'S', 'D', 'P', 'H', 'C'], slot: ['F', 'B', 'U', 'T', 'X'] });
    const both = configuredStatusCodes({ PAS_APPOINTMENT_STATUS_MAP: 'BK=booked,XP=cancelled:patient' });
    expect(both).toEqual({ appointment: ['BK', 'XP'], slot: ['F', 'B', 'U', 'T', 'X'], source: 'PAS_APPOINTMENT_STATUS_MAP' });
    const findings = statusCodeFindings('APPOINTMENT.APPT_STATUS', [{ code: 'B', n: 1 }], both);
    expect(findings[0]).toMatchObject({ status: 'warn', message: expect.stringMatching(/the mapping in PAS_APPOINTMENT_STATUS_MAP does not know: 'B'/) });
  });
});

describe('doctor: triggers', () => {
  it('fails an INSTEAD OF trigger on a mapped view the adapter writes through', () => {
    const view = entry('CLINIC_SLOT', { type: 'view', actual: 'booking_pas.CLINIC_SLOT', triggers: [{ name: 'TR_SLOT_IO', insteadOf: true, disabled: false }] });
    const findings = triggerFindings(catalog(['CLINIC_SLOT', view]));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ status: 'fail', subject: 'CLINIC_SLOT', message: expect.stringMatching(/booking_pas\.CLINIC_SLOT \(view\) has INSTEAD OF trigger\(s\) TR_SLOT_IO: the row counts/) });
  });

  it('lets AFTER triggers and disabled ones pass, and says when triggers could not be listed', () => {
    const audited = entry('APPOINTMENT', {
      triggers: [
        { name: 'TR_APPT_AUDIT', insteadOf: false, disabled: false },
        { name: 'TR_OLD', insteadOf: true, disabled: true },
      ],
    });
    const findings = triggerFindings(catalog(['APPOINTMENT', audited]));
    expect(findings.map((f) => f.status)).toEqual(['ok']);
    expect(findings[0]?.message).toMatch(/AFTER trigger\(s\) TR_APPT_AUDIT: fine as long as they return no rows/);
    const unknown = entry('PATIENT');
    delete unknown.triggers;
    expect(triggerFindings(catalog(['PATIENT', unknown]))).toEqual([expect.objectContaining({ status: 'warn', subject: 'PATIENT' })]);
  });
});

describe('doctor: the slot search covering index', () => {
  const pk = { name: 'PK_CLINIC_SLOT', unique: true, columns: ['SLOT_ID'], included: [], clustered: true };

  it('recommends it when the index on (CLINIC_CODE, START_DTTM) does not cover the search', () => {
    const plain = entry('CLINIC_SLOT', { indexes: [pk, { name: 'IX_CLINIC_SLOT_CLINIC_START_a1b2c3', unique: false, columns: ['CLINIC_CODE', 'START_DTTM'], included: [] }] });
    const findings = slotSearchIndexFindings(catalog(['CLINIC_SLOT', plain]));
    expect(findings).toEqual([
      {
        status: 'warn',
        subject: 'CLINIC_SLOT',
        message: expect.stringMatching(/no covering index/),
        fix: 'CREATE INDEX IX_CLINIC_SLOT_SEARCH ON dbo.CLINIC_SLOT (CLINIC_CODE, START_DTTM) INCLUDE (SLOT_STATUS, SLOT_GUID, END_DTTM, CONTACT_TYPE);',
      },
    ]);
    expect(slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { indexes: [pk] })]))[0]?.status).toBe('warn');
  });

  it('accepts it under any name (Babelfish hashes names), with SLOT_ID carried by the clustered key or included', () => {
    const covering = { name: 'whatever_9f8e', unique: false, columns: ['CLINIC_CODE', 'START_DTTM'], included: ['CONTACT_TYPE', 'END_DTTM', 'SLOT_GUID', 'SLOT_STATUS'] };
    expect(slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { indexes: [pk, covering] })]))[0]?.status).toBe('ok');
    // A heap (no clustered index): SLOT_ID must be in the index itself.
    expect(slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { indexes: [covering] })]))[0]?.status).toBe('warn');
    expect(slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { indexes: [{ ...covering, included: [...covering.included, 'SLOT_ID'] }] })]))[0]?.status).toBe('ok');
    // Keys in the wrong order do not serve a seek by clinic then start.
    const reversed = { ...covering, columns: ['START_DTTM', 'CLINIC_CODE'] };
    expect(slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { indexes: [pk, reversed] })]))[0]?.status).toBe('warn');
  });

  it('on a mapped view, says what the base table needs', () => {
    const findings = slotSearchIndexFindings(catalog(['CLINIC_SLOT', entry('CLINIC_SLOT', { type: 'view' })]));
    expect(findings[0]).toMatchObject({ status: 'warn', message: expect.stringMatching(/is a view/) });
  });
});

describe('doctor: certificate revocation lists', () => {
  it('passes a current CRL, warns a day before its next update, fails it once passed, and fails what does not parse', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-crl-'));
    try {
      const { crl } = await makeTestPki(dir); // next update in 30 days
      const day = 86_400_000;
      expect(crlFindings(crl).map((r) => r.status)).toEqual(['ok']);
      expect(crlFindings(crl, Date.now() + 29.5 * day)[0]).toMatchObject({ status: 'warn', message: expect.stringMatching(/^CRL of CN=Test Spine CA: next update .* \(in \d+ h\)$/) });
      expect(crlFindings(crl, Date.now() + 31 * day)[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/has passed, so every client certificate of that CA is refused/) });
      // Two lists (the root's and an issuing CA's): one finding each.
      expect(crlFindings(`${crl}\n${crl}`)).toHaveLength(2);
      expect(crlFindings('not a crl')[0]).toMatchObject({ status: 'fail' });
      expect(crlFindings('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----')[0]).toMatchObject({ status: 'fail', message: expect.stringMatching(/does not parse/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration problems', () => {
  const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

  it('names the setting of a value only the worker’s own checks refuse: an unknown time zone, an unparsable PAS_MSSQL_URL', () => {
    expect(workerProblems({ QUEUE_ENCRYPTION_KEYS: keys, PAS_TIMEZONE: 'Mars/Olympus_Mons' })).toEqual([{ setting: 'PAS_TIMEZONE', message: expect.stringMatching(/^PAS_TIMEZONE: unknown time zone/) }]);
    const [problem, ...more] = workerProblems({ QUEUE_ENCRYPTION_KEYS: keys, PAS_ADAPTER: 'mssql', PAS_MSSQL_URL: 'mssql://w:Sekr%t9@pas-host/PAS' });
    expect(more).toEqual([]);
    expect(problem?.setting).toBe('PAS_MSSQL_URL');
    expect(problem?.message).not.toContain('Sekr');
    expect(configFix(problem?.setting)).toBe('set PAS_MSSQL_URL (environment, CONFIG_FILE or PAS_MSSQL_URL_FILE)');
  });

  it('reports the TLS material the facade’s listener would refuse, naming the setting: a key of another certificate, a cipher list matching nothing, a SHA-1 fingerprint on the allow-list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-tls-'));
    try {
      const { server, ssp } = await makeTestPki(dir);
      const tls = { QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS_CERT: server.cert, FACADE_TLS_KEY: server.key, FACADE_TLS_CA: server.cert, FACADE_TLS_ALLOWED_CLIENTS: 'ssp.nhs.uk' };
      expect(facadeProblems(tls)).toEqual([]);
      expect(facadeProblems({ ...tls, FACADE_TLS_KEY: ssp.key })).toEqual([{ setting: 'FACADE_TLS_KEY', message: expect.stringMatching(/^FACADE_TLS_KEY: not the private key of FACADE_TLS_CERT/) }]);
      expect(facadeProblems({ ...tls, FACADE_TLS_CIPHERS: 'BOGUS' })).toEqual([{ setting: 'FACADE_TLS_CIPHERS', message: expect.stringMatching(/^FACADE_TLS_CIPHERS: OpenSSL knows no cipher/) }]);
      // `sha256:` + the SHA-1 `openssl x509 -fingerprint` prints by default: no handshake would ever match it.
      const sha1 = ssp.fingerprint.split(':').slice(0, 20).join(':');
      expect(facadeProblems({ ...tls, FACADE_TLS_ALLOWED_CLIENTS: `sha256:${sha1}` })).toEqual([{ setting: 'FACADE_TLS_ALLOWED_CLIENTS', message: expect.stringMatching(/-fingerprint -sha256/) }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a base URL or collector address without http(s)://, naming the setting and the form expected', () => {
    expect(facadeProblems({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', FACADE_BASE_URL: 'booking.example-trust.nhs.uk:443/STU3/1', OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' })).toEqual([
      { setting: 'FACADE_BASE_URL', message: expect.stringMatching(/^FACADE_BASE_URL: must be an http:\/\/ or https:\/\/ URL with a host name \(expected the absolute service root/) },
      { setting: 'OTEL_EXPORTER_OTLP_ENDPOINT', message: expect.stringMatching(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/) },
    ]);
    expect(workerProblems({ QUEUE_ENCRYPTION_KEYS: keys, OTEL_EXPORTER_OTLP_ENDPOINT: 'otel-collector:4318' })).toEqual([{ setting: 'OTEL_EXPORTER_OTLP_ENDPOINT', message: expect.stringMatching(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/) }]);
  });

  it('gives advice that fits when a message names no setting, and for CONFIG_FILE itself', () => {
    expect(configFix(undefined)).toBe('correct the setting the message describes (in the environment or CONFIG_FILE), then run doctor again');
    expect(configFix('CONFIG_FILE')).toBe('make CONFIG_FILE name a readable JSON file of settings');
    expect(configFix('REDIS_PASSWORD_FILE')).toBe('make the file REDIS_PASSWORD_FILE names readable by this user');
  });

  it('names CONFIG_FILE keys no app reads and product-prefixed variables no app reads, each with the closest known name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-unknown-'));
    try {
      const file = join(dir, 'settings.json');
      writeFileSync(file, JSON.stringify({ QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', WORKER_CONCURENCY: 2, AUDIT_DIR_FILE: '/x', SOMETHING_ELSE: 1 }));
      const env = { CONFIG_FILE: file, PAS_TIMEZON: 'Europe/London', PAS_SQLITE_PATH: 'x', REDIS_PASSWORD_FILE: '/run/secrets/r', FACADE_PUBLISHED_PORT: '8443', OTEL_SERVICE_NAME: 'x', HOME: '/root', PATH: '/bin' };
      expect(unknownSettings(env)).toEqual([
        { name: 'SOMETHING_ELSE', source: 'CONFIG_FILE' },
        { name: 'WORKER_CONCURENCY', source: 'CONFIG_FILE', closest: 'WORKER_CONCURRENCY' },
        { name: 'PAS_TIMEZON', source: 'environment', closest: 'PAS_TIMEZONE' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not take the variables Kubernetes writes for each Service (service links) for mistyped settings', () => {
    // Services named redis (port named redis) and worker, as Kubernetes writes them into every pod.
    const links = {
      REDIS_SERVICE_HOST: '10.96.0.10',
      REDIS_SERVICE_PORT: '6379',
      REDIS_SERVICE_PORT_REDIS: '6379',
      REDIS_PORT: 'tcp://10.96.0.10:6379',
      REDIS_PORT_6379_TCP: 'tcp://10.96.0.10:6379',
      REDIS_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_PORT_6379_TCP_PORT: '6379',
      REDIS_PORT_6379_TCP_ADDR: '10.96.0.10',
      WORKER_SERVICE_HOST: 'fd00:10:96::a',
      WORKER_PORT_9091_UDP: 'udp://[fd00:10:96::a]:9091',
    };
    expect(unknownSettings({ QUEUE_ENCRYPTION_KEYS: keys, ...links })).toEqual([]);
    // The same names with values Kubernetes never writes are somebody's settings, and no app reads them.
    expect(unknownSettings({ QUEUE_ENCRYPTION_KEYS: keys, REDIS_PORT: '6380', WORKER_SERVICE_HOST: 'worker.internal', REDIS_PORT_6379_TCP_PROTO: 'http' }).map((u) => u.name)).toEqual(['REDIS_PORT', 'REDIS_PORT_6379_TCP_PROTO', 'WORKER_SERVICE_HOST']);
  });

  it('names the placeholder settings still at their shipped demo defaults, for the apps checked', () => {
    const env = { QUEUE_ENCRYPTION_KEYS: keys };
    expect(placeholderSettings(['facade', 'worker'], env).map((p) => [p.setting, p.value])).toEqual([
      ['PROVIDER_ASID', '200000000359'],
      ['LOCAL_PATIENT_ID_SYSTEM', 'https://fhir.example-trust.nhs.uk/Id/hospital-number'],
      ['SCHEDULE_ID_SYSTEM', 'https://fhir.example-trust.nhs.uk/Id/clinic-code'],
    ]);
    expect(placeholderSettings(['facade'], { ...env, PROVIDER_ASID: '200000000359' }).map((p) => p.setting)).toEqual(['PROVIDER_ASID']);
    const own = { ...env, PROVIDER_ASID: '918999198993', LOCAL_PATIENT_ID_SYSTEM: 'https://fhir.rdm.nhs.uk/Id/hosp-no', SCHEDULE_ID_SYSTEM: 'https://fhir.rdm.nhs.uk/Id/clinic' };
    expect(placeholderSettings(['facade', 'worker'], own)).toEqual([]);
  });
});

describe('doctor: 69 only when the network never reached a service; a refused login or an untrusted certificate is a finding', () => {
  const keys = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
  const redisUrl = () => inject('redisUrl');
  const hostPort = () => new URL(redisUrl()).host;

  /** `doctor --app facade --json`, in-process: its exit code and the redis lines. */
  async function facadeDoctor(env: Record<string, string>): Promise<{ code: number; redis: CheckResult[] }> {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-reach-'));
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    try {
      const code = await doctor({ app: 'facade', json: true, maxSkewSeconds: 5 }, { QUEUE_ENCRYPTION_KEYS: keys, FACADE_TLS: 'off', AUDIT_DIR: join(dir, 'audit'), ...env });
      const { results } = JSON.parse(printed.join('\n')) as { results: CheckResult[] };
      return { code, redis: results.filter((r) => r.check === 'redis' && r.status === 'fail') };
    } finally {
      log.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('Redis refusing the login: exit 1, the fix names REDIS_USERNAME and REDIS_PASSWORD', async () => {
    const url = new URL(redisUrl());
    url.username = 'no-such-user';
    url.password = 'wrong';
    const { code, redis } = await facadeDoctor({ REDIS_URL: url.toString() });
    expect(code).toBe(EXIT.FAILED);
    expect(redis).toEqual([expect.objectContaining({ subject: 'REDIS_URL', message: expect.stringMatching(/login refused by Redis at .*WRONGPASS/), fix: expect.stringMatching(/REDIS_USERNAME and REDIS_PASSWORD/) })]);
    expect(redis[0]).not.toHaveProperty('unreachable');
  });

  it('a Redis TLS certificate this machine does not trust: exit 1, the fix names REDIS_TLS_CA_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'doctor-redis-tls-'));
    const { server: cert, ca } = await makeTestPki(dir);
    // A TLS listener presenting a chain up to a CA the client was not given (REDIS_TLS_CA unset).
    const server = createTlsServer({ key: cert.key, cert: `${cert.cert}\n${ca.cert}` });
    server.on('tlsClientError', () => {});
    const port = await freePort();
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    try {
      const { code, redis } = await facadeDoctor({ REDIS_URL: `rediss://127.0.0.1:${port}` });
      expect(code).toBe(EXIT.FAILED);
      expect(redis).toEqual([expect.objectContaining({ message: expect.stringMatching(/TLS failed with Redis at .*self-signed certificate in certificate chain/), fix: expect.stringMatching(/REDIS_TLS_CA_FILE/) })]);
      expect(redis[0]).not.toHaveProperty('unreachable');
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Sentinels refusing their login: exit 1, the fix names REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD', async () => {
    // The test Redis stands in for a Sentinel: it refuses the AUTH before any SENTINEL command.
    const { code, redis } = await facadeDoctor({ REDIS_URL: redisUrl(), REDIS_SENTINELS: hostPort(), REDIS_SENTINEL_USERNAME: 'no-such-user', REDIS_SENTINEL_PASSWORD: 'wrong' });
    expect(code).toBe(EXIT.FAILED);
    const sentinels = redis.find((r) => r.subject === 'REDIS_SENTINELS');
    expect(sentinels).toMatchObject({ message: expect.stringMatching(/WRONGPASS/), fix: expect.stringMatching(/REDIS_SENTINEL_USERNAME and REDIS_SENTINEL_PASSWORD/) });
    expect(sentinels).not.toHaveProperty('unreachable');
  });

  it('nothing listening at Redis or at the Sentinels is still 69', async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    expect((await facadeDoctor({ REDIS_URL: `redis://${nowhere}` })).code).toBe(EXIT.UNAVAILABLE);
    const viaSentinels = await facadeDoctor({ REDIS_URL: redisUrl(), REDIS_SENTINELS: nowhere });
    expect(viaSentinels.code, JSON.stringify(viaSentinels.redis)).toBe(EXIT.UNAVAILABLE);
  });

  /** What tedious puts under mssql's ConnectionError: a socket error wraps its cause. */
  const tedious = (message: string, code: string, cause?: Error) => new sql.ConnectionError(Object.assign(new Error(message, { cause }), { code }) as unknown as Error);
  const causeOf = (message: string, code: string) => Object.assign(new Error(message), { code });
  const where = 'SQL Server pas-sql01:1433/PAS';

  it('SQL Server refusing the login or presenting an untrusted certificate: a wrong setting (not 69), the fix naming PAS_MSSQL_URL or the CA', () => {
    const login = mssqlConnectError(where, tedious("Login failed for user 'booking_worker'.", 'ELOGIN'));
    expect(login.exitCode).toBe(EXIT.CONFIG);
    expect(login.message).toBe(`PAS: cannot connect to ${where}: Login failed for user 'booking_worker'.`);
    expect(login.fix).toMatch(/login and password in PAS_MSSQL_URL/);
    const tls = mssqlConnectError(where, tedious('Failed to connect to pas-sql01:1433 - self-signed certificate in certificate chain', 'ESOCKET', causeOf('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')));
    expect(tls.exitCode).toBe(EXIT.CONFIG);
    expect(tls.fix).toMatch(/NODE_EXTRA_CA_CERTS.*trustServerCertificate=true/);
  });

  it('SQL Server not reached on the network is 69', () => {
    for (const error of [
      tedious('Failed to connect to pas-sql01:1433 - getaddrinfo ENOTFOUND pas-sql01', 'ESOCKET', causeOf('getaddrinfo ENOTFOUND pas-sql01', 'ENOTFOUND')),
      tedious('Failed to connect to pas-sql01:1433 - connect ECONNREFUSED 10.1.2.3:1433', 'ESOCKET', causeOf('connect ECONNREFUSED 10.1.2.3:1433', 'ECONNREFUSED')),
      tedious('Failed to connect to pas-sql01:1433 in 5000ms', 'ETIMEOUT'),
    ]) {
      expect(mssqlConnectError(where, error).exitCode, error.message).toBe(EXIT.UNAVAILABLE);
    }
  });
});
