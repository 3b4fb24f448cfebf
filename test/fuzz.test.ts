import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { toXml } from '@booking/fhir';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { queryAudit } from '../apps/facade/src/audit/query.js';
import { INTERACTIONS } from '../apps/facade/src/interactions.js';
import { bookingBody, consumerHeaders, INTERACTION_IDS, type InteractionName, makeJwt, SCOPES, type SlotForBooking } from './support/consumer.js';
import { pasCounts } from './support/pas.js';
import { PROVIDER_ASID, Stack } from './support/stack.js';

/**
 * Property-based fuzzing of the consumer API over HTTP (issue "Security" item 5): ≥ 10,000
 * generated and mutated requests, 16 at a time, against a real facade, worker and PAS. Every
 * request is invalid by construction — it always breaks a header, the JWT, the route, or books
 * a slot the PAS does not have — so every answer must be a 4xx OperationOutcome; the facade must
 * stay up with bounded memory, the PAS must not change, and each request must leave one audit record.
 */

const SEED = 20_251_125;
const BATCH = 16; // requests in flight at once
const RUNS = Number(process.env.FUZZ_RUNS ?? 640); // × BATCH = 10,240 requests; FUZZ_RUNS=… for a longer local run

let stack: Stack;
let base: string;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: inject('redisUrl') });
  base = stack.baseUrl;
});
afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// What a valid request of each interaction looks like

/** A slot no PAS row matches: unknown id and GUID, and times in 2099, so no mutation can book it. */
const GHOST_SLOT: SlotForBooking = { id: '987654321', identifier: '00000000-0000-4000-8000-000000000000', schedule: 'Schedule/NOPE', start: '2099-01-01T10:00:00.000Z', end: '2099-01-01T10:15:00.000Z' };
const GHOST_BOOKING = bookingBody(GHOST_SLOT);
const GHOST_XML = toXml(GHOST_BOOKING);
const SEARCH = '/Slot?schedule.actor:healthcareservice=999999999&status=free&start=ge2099-01-01T00:00:00%2B00:00&start=le2099-01-05T00:00:00%2B00:00';

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  /** What was done, for the report of a failing case. */
  what: string[];
}

type Template = { interaction: InteractionName; method: string; path: string; body?: string; extra?: Record<string, string> };

const templates: Record<string, () => Template> = {
  metadata: () => ({ interaction: 'metadata', method: 'GET', path: '/metadata' }),
  searchSlot: () => ({ interaction: 'searchSlot', method: 'GET', path: SEARCH }),
  book: () => ({ interaction: 'book', method: 'POST', path: '/Appointment', body: JSON.stringify(GHOST_BOOKING) }),
  read: () => ({ interaction: 'read', method: 'GET', path: `/Appointment/${randomUUID()}` }),
  vread: () => ({ interaction: 'read', method: 'GET', path: `/Appointment/${randomUUID()}/_history/1` }),
  cancel: () => {
    const id = randomUUID();
    return { interaction: 'cancel', method: 'PUT', path: `/Appointment/${id}`, body: JSON.stringify({ ...GHOST_BOOKING, id, status: 'cancelled' }), extra: { 'If-Match': 'W/"1"' } };
  },
};

// ---------------------------------------------------------------------------------------------
// Arbitraries

const PRINTABLE = [...Array(95)].map((_, i) => String.fromCharCode(32 + i));
/** Header-safe text (fetch refuses control characters in header values). */
const headerText = (maxLength = 80) => fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength });
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A value of any JSON type; with `not`, never equal to it. */
const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.constant(''), fc.integer(), fc.string({ maxLength: 30 }));
const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }), fc.constant(''));

/** A header broken so the SSP header check must refuse it (drop or an invalid value). */
function brokenHeader(t: Template): fc.Arbitrary<[string, string | undefined, string]> {
  const wrong = (name: string, valid: (v: string) => boolean) =>
    fc.oneof(fc.constant(undefined), headerText().filter((v) => !valid(v.trim()))).map((v): [string, string | undefined, string] => [name, v, `${name}=${v === undefined ? '(dropped)' : JSON.stringify(v.slice(0, 40))}`]);
  const options = [
    wrong('Ssp-TraceID', (v) => UUID.test(v)),
    wrong('Ssp-From', (v) => /^\d{12}$/.test(v)),
    wrong('Ssp-To', (v) => v === PROVIDER_ASID),
    fc
      .oneof(headerText(), fc.constantFrom(...Object.values(INTERACTION_IDS)))
      .filter((v) => v.trim() !== INTERACTION_IDS[t.interaction])
      .map((v): [string, string | undefined, string] => ['Ssp-InteractionID', v, `Ssp-InteractionID=${v.slice(0, 60)}`]),
  ];
  if (t.method !== 'GET') {
    options.push(wrong('X-Request-ID', (v) => UUID.test(v)));
    // Content-Type that is not a FHIR body type → 415.
    options.push(fc.constantFrom(undefined, 'application/json', 'application/xml', 'text/plain', 'application/fhir+json;charset=latin1', 'multipart/form-data').map((v): [string, string | undefined, string] => ['Content-Type', v, `Content-Type=${v}`]));
  }
  return fc.oneof(...options);
}

/** An Authorization header the JWT check must refuse, each case a different check. */
function brokenAuthorization(t: Template): fc.Arbitrary<[string, string]> {
  const scope = SCOPES[t.interaction];
  // Every scope the facade accepts here (older ones too, spec §5.2): none of them breaks the token.
  const accepted: readonly string[] = INTERACTIONS.find((i) => i.interactionId === INTERACTION_IDS[t.interaction])?.scopes ?? [scope];
  const now = Math.floor(Date.now() / 1000);
  const claim = (name: string, value: fc.Arbitrary<unknown>) => value.map((v): [string, string] => [`Bearer ${makeJwt(base, scope, { [name]: v })}`, `jwt ${name}=${JSON.stringify(v)?.slice(0, 40)}`]);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return fc.oneof(
    // A required claim dropped, or of the wrong type.
    fc.constantFrom('iss', 'sub', 'aud', 'exp', 'iat', 'reason_for_request', 'requested_scope', 'requesting_device', 'requesting_organization').map((name): [string, string] => [`Bearer ${makeJwt(base, scope, { [name]: undefined })}`, `jwt without ${name}`]),
    claim('iss', notString),
    claim('sub', notString),
    claim('aud', anyJson.filter((v) => v !== base)),
    claim('reason_for_request', anyJson.filter((v) => v !== 'directcare')),
    claim('requested_scope', fc.oneof(anyJson, fc.constantFrom(...Object.values(SCOPES), 'organization/*.read')).filter((v) => !accepted.includes(v as string))),
    claim('iat', fc.oneof(fc.integer({ min: now + 120, max: now + 10 ** 6 }), fc.double({ noInteger: true }), notString)),
    claim('exp', fc.oneof(fc.integer({ min: 0, max: now - 120 }), fc.integer({ min: now + 400, max: now + 10 ** 6 }), fc.double({ noInteger: true }), notString)),
    claim('requesting_device', fc.oneof(anyJson, fc.record({ resourceType: fc.constant('Device'), model: anyJson }), fc.record({ resourceType: fc.string().filter((r) => r !== 'Device'), identifier: anyJson, model: fc.string(), version: fc.string() }))),
    claim('requesting_organization', fc.oneof(anyJson, fc.record({ resourceType: fc.constant('Organization'), name: anyJson }), fc.record({ resourceType: fc.constant('Organization'), name: fc.string(), identifier: fc.array(fc.record({ system: fc.webUrl(), value: fc.string() }), { maxLength: 2 }) }))),
    claim('requesting_practitioner', fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.record({ resourceType: fc.constant('Practitioner'), id: anyJson.filter((v) => v !== '10019') }))),
    // Structure: alg, signature, parts, prefix, garbage.
    fc.constantFrom('HS256', 'RS256', 'ES256', 'None', '').map((alg): [string, string] => [`Bearer ${makeJwt(base, scope).replace(/^[^.]+/, b64({ alg, typ: 'JWT' }))}`, `jwt alg=${alg}`]),
    fc.base64String({ minLength: 4, maxLength: 64 }).map((sig): [string, string] => [`Bearer ${makeJwt(base, scope)}${sig.replace(/[+/=]/g, 'A')}`, 'jwt with a signature']),
    fc.nat({ max: 400 }).map((cut): [string, string] => [`Bearer ${makeJwt(base, scope).slice(0, cut)}`, `jwt cut at ${cut}`]),
    fc.constantFrom('DPoP', 'Basic', 'Token', '').map((prefix): [string, string] => [`${prefix} ${makeJwt(base, scope)}`.trim(), `Authorization prefix "${prefix}"`]),
    headerText(200).map((v): [string, string] => [v, 'Authorization garbage']),
    fc.constant<[string, string]>([`Bearer ${makeJwt(base, scope)}.extra`, 'jwt with four parts']),
  );
}

/** A method/path pair the routing must refuse (404 or 405). */
const brokenRoute = fc.oneof(
  fc.tuple(fc.constantFrom('DELETE', 'PATCH', 'OPTIONS'), fc.constantFrom('/metadata', '/Slot', '/Appointment', `/Appointment/${randomUUID()}`)),
  fc.tuple(fc.constantFrom('POST', 'PUT'), fc.constantFrom('/metadata', '/Slot')),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.stringMatching(/^\/(Patient|Practitioner|metadata\/x|Slot\/[a-z0-9]{1,8}|Appointment\/[a-z0-9]{1,8}\/x|\.\.\/etc\/passwd|%00|[A-Za-z0-9_.~-]{1,20})$/)),
)
  // A random segment could spell a real route: keep only pairs the router must refuse.
  .filter(([method, path]) => !(['/metadata', '/Slot', '/Appointment'].includes(path) && ['GET', 'POST'].includes(method)))
  .map(([method, path]): [string, string] => [method, path]);

// JSON bodies: the ghost booking, mutated.

type JsonPath = (string | number)[];
function pathsOf(value: unknown, prefix: JsonPath = []): JsonPath[] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
}
const BODY_PATHS = pathsOf(GHOST_BOOKING).filter((p) => p.length > 0);

function setAt(root: any, path: JsonPath, op: 'delete' | 'replace' | 'duplicate', value?: unknown) {
  const parent = path.slice(0, -1).reduce((o, k) => o?.[k], root);
  const key = path[path.length - 1] as string | number;
  if (typeof parent !== 'object' || parent === null) return; // an earlier op replaced it
  if (op === 'delete') Array.isArray(parent) ? parent.splice(key as number, 1) : delete parent[key];
  else if (op === 'replace') parent[key] = value;
  else if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number]));
  else parent[`${key}`] = [parent[key], parent[key]];
}

const hugeString = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 1_000, max: 200_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_048_577, max: 1_300_000 }) }, // over MAX_BODY_BYTES → 413
).map((n) => 'x'.repeat(n));
const deepValue = fc.integer({ min: 30, max: 20_000 }).map((depth) => JSON.parse(`${'['.repeat(Math.min(depth, 60))}1${']'.repeat(Math.min(depth, 60))}`) as unknown);
const deepText = fc.integer({ min: 65, max: 50_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`);

const jsonBody: fc.Arbitrary<[string | Uint8Array, string]> = fc.oneof(
  // Structural: drop / replace / duplicate one or more elements anywhere.
  fc
    .array(
      fc.tuple(fc.constantFrom(...BODY_PATHS), fc.constantFrom('delete', 'replace', 'duplicate') as fc.Arbitrary<'delete' | 'replace' | 'duplicate'>, fc.oneof(anyJson, hugeString, deepValue, notString)),
      { minLength: 1, maxLength: 4 },
    )
    .map((ops): [string, string] => {
      const body = structuredClone(GHOST_BOOKING) as Record<string, unknown>;
      for (const [path, op, value] of ops) setAt(body, path, op, value);
      return [JSON.stringify(body), `body ${ops.map(([p, op]) => `${op} ${p.join('.')}`).join(', ')}`];
    }),
  // Text: truncate, splice in random characters, duplicate a key, deep nesting, prototype keys.
  fc.nat().map((n): [string, string] => {
    const text = JSON.stringify(GHOST_BOOKING);
    return [text.slice(0, n % text.length), `body cut at ${n % text.length}`];
  }),
  fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 8 })).map(([at, s]): [string, string] => {
    const text = JSON.stringify(GHOST_BOOKING);
    const i = at % text.length;
    return [text.slice(0, i) + s + text.slice(i), `body with ${JSON.stringify(s)} at ${i}`];
  }),
  fc.constantFrom('"status":"booked"', '"resourceType":"Appointment"', '"start":"').map((k): [string, string] => [JSON.stringify(GHOST_BOOKING).replace(k, `${k.startsWith('"start"') ? '"start":"1999-01-01T00:00:00Z",' : `${k.replace('booked', 'cancelled').replace('Appointment', 'Patient')},`}${k}`), `duplicate key ${k}`]),
  deepText.map((deep): [string, string] => [JSON.stringify(GHOST_BOOKING).replace('"description"', `"extension":${deep},"description"`), `body nested ${deep.length / 2} deep`]),
  fc.constantFrom('__proto__', 'constructor', 'prototype').map((k): [string, string] => [JSON.stringify(GHOST_BOOKING).replace('{"resourceType":"Patient"', `{"${k}":{"polluted":true,"prototype":{"polluted":true}},"resourceType":"Patient"`), `body with ${k}`]),
  // Not JSON at all.
  fc.uint8Array({ maxLength: 2048 }).map((bytes): [Uint8Array, string] => [bytes, `random bytes (${bytes.length})`]),
  fc.constantFrom('', 'null', '[]', '{}', '"Appointment"', '1e999', '{"resourceType":"Appointment"}').map((t): [string, string] => [t, `body ${t || '(empty)'}`]),
);

const xmlBody: fc.Arbitrary<[string | Uint8Array, string]> = fc.oneof(
  fc.constant<[string, string]>([GHOST_XML, 'xml ghost booking']),
  fc.nat().map((n): [string, string] => [GHOST_XML.slice(0, n % GHOST_XML.length), `xml cut at ${n % GHOST_XML.length}`]),
  fc.tuple(fc.nat(), fc.constantFrom('<', '>', '&', '"', '<x>', '</status>', '<![CDATA[', '&amp;', '\u0000', 'é')).map(([at, s]): [string, string] => {
    const i = at % GHOST_XML.length;
    return [GHOST_XML.slice(0, i) + s + GHOST_XML.slice(i), `xml with ${JSON.stringify(s)} at ${i}`];
  }),
  fc.integer({ min: 10, max: 5000 }).map((depth): [string, string] => [GHOST_XML.replace('<status', `${'<extension url="x">'.repeat(depth)}${'</extension>'.repeat(depth)}<status`), `xml nested ${depth} deep`]),
  fc.constantFrom(
    `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Appointment xmlns="http://hl7.org/fhir"><status value="&xxe;"/></Appointment>`,
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Appointment xmlns="http://hl7.org/fhir"><status value="&lol3;"/></Appointment>`,
    GHOST_XML.replace('<Appointment', '<Patient').replace('</Appointment>', '</Patient>'),
    GHOST_XML.replace('xmlns="http://hl7.org/fhir"', ''),
    `${GHOST_XML}${GHOST_XML}`,
  ).map((x): [string, string] => [x, 'xml attack or wrong document']),
  fc.uint8Array({ maxLength: 1024 }).map((b): [Uint8Array, string] => [b, 'xml random bytes']),
);

/** Harmless variations that never make a request valid by themselves. */
const extras = fc.record(
  {
    accept: fc.constantFrom('application/fhir+json', 'application/fhir+xml', 'application/json', 'text/html', '*/*', 'application/fhir+xml;q=0.5, application/fhir+json'),
    format: fc.constantFrom('json', 'xml', 'application/fhir+xml', 'html', 'foo'),
    ifMatch: fc.oneof(headerText(20), fc.constantFrom('W/"1"', 'W/"999"', '*', '"1"')),
    requestId: fc.oneof(fc.uuid().map(String), headerText(120)),
    junkHeader: fc.tuple(fc.stringMatching(/^X-[A-Za-z]{1,10}$/), headerText(2000)),
    gzip: fc.boolean(),
  },
  { requiredKeys: [] },
);

const BODY_TEMPLATES = new Set(['book', 'cancel']);

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .constantFrom(...Object.keys(templates))
  .chain((name) => {
    const t = templates[name]!();
    // The breakage that makes the request invalid. Reads, vreads, bookings and cancels of the
    // ghost are refused by the PAS anyway (404/422), so for them a body mutation is enough.
    const breakages: fc.Arbitrary<Partial<FuzzRequest> & { what: string[] }>[] = [
      brokenHeader(t).map(([h, v, what]) => ({ headers: v === undefined ? { [`-${h}`]: '' } : { [h]: v }, what: [what] })),
      brokenAuthorization(t).map(([v, what]) => ({ headers: { Authorization: v }, what: [what] })),
      brokenRoute.map(([method, path]) => ({ method, path, what: [`route ${method} ${path}`] })),
    ];
    if (BODY_TEMPLATES.has(name)) {
      breakages.push(jsonBody.map(([body, what]) => ({ body, what: [what] })));
      breakages.push(xmlBody.map(([body, what]) => ({ body, headers: { 'Content-Type': 'application/fhir+xml' }, what: [what] })));
    }
    if (name === 'read' || name === 'vread') breakages.push(fc.constant({ what: ['read of an unknown appointment'] }));
    return fc.tuple(fc.constant(t), fc.oneof(...breakages), extras);
  })
  .map(([t, broken, x]) => {
    const headers: Record<string, string> = { ...consumerHeaders(base, t.interaction), ...t.extra, ...(broken.headers ?? {}) };
    for (const key of Object.keys(headers)) if (key.startsWith('-')) delete headers[key.slice(1)], delete headers[key];
    const what = [`${t.interaction}`, ...broken.what];
    if (x.accept) headers.Accept = x.accept;
    if (x.ifMatch && t.method === 'PUT') headers['If-Match'] = x.ifMatch;
    if (x.requestId && t.method !== 'GET' && !('X-Request-ID' in (broken.headers ?? {})) && !('-X-Request-ID' in (broken.headers ?? {}))) headers['X-Request-ID'] = x.requestId;
    if (x.junkHeader) headers[x.junkHeader[0]] = x.junkHeader[1];
    let path = broken.path ?? t.path;
    if (x.format) path += `${path.includes('?') ? '&' : '?'}_format=${encodeURIComponent(x.format)}`;
    const method = broken.method ?? t.method;
    let body = method === 'GET' ? undefined : (broken.body ?? t.body);
    if (body !== undefined && x.gzip) {
      body = gzipSync(typeof body === 'string' ? Buffer.from(body) : body);
      headers['Content-Encoding'] = 'gzip';
    }
    what.push(...Object.entries(x).map(([k, v]) => `${k}=${JSON.stringify(v)?.slice(0, 30)}`));
    return { method, path, headers, ...(body !== undefined ? { body } : {}), what };
  });

// ---------------------------------------------------------------------------------------------
// Sending and judging

const statuses = new Map<number, number>();
let sent = 0;

async function send(r: FuzzRequest): Promise<string | undefined> {
  let res: Response;
  try {
    res = await fetch(`${base}${r.path}`, { method: r.method, headers: r.headers, ...(r.body !== undefined ? { body: r.body } : {}), redirect: 'manual' });
  } catch (error) {
    sent++;
    return `no answer: ${(error as Error).message} ${(error as { cause?: Error }).cause?.message ?? ''}`;
  }
  sent++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  const text = await res.text();
  if (res.status < 400 || res.status > 499) return `status ${res.status}: ${text.slice(0, 300)}`;
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('application/fhir+json')) {
    try {
      const oo = JSON.parse(text) as { resourceType?: string; issue?: { details?: { coding?: { code?: string }[] } }[] };
      if (oo.resourceType !== 'OperationOutcome' || !oo.issue?.[0]?.details?.coding?.[0]?.code) return `not an OperationOutcome: ${text.slice(0, 300)}`;
    } catch {
      return `unparseable JSON body: ${text.slice(0, 300)}`;
    }
  } else if (type.startsWith('application/fhir+xml')) {
    if (!/<OperationOutcome xmlns="http:\/\/hl7.org\/fhir">/.test(text)) return `not an XML OperationOutcome: ${text.slice(0, 300)}`;
  } else {
    return `content type ${type || '(none)'}: ${text.slice(0, 300)}`;
  }
  return undefined;
}

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]);
}

function integrity() {
  const db = stack.openPas();
  try {
    return {
      ...pasCounts(db),
      freeSlots: (db.prepare(`SELECT COUNT(*) AS n FROM CLINIC_SLOT WHERE SLOT_STATUS = 'F'`).get() as { n: number }).n,
      patients: (db.prepare('SELECT COUNT(*) AS n FROM PATIENT').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

describe('fuzzing the consumer API', () => {
  it('the unmutated requests are valid: metadata 200, the ghost booking 422 REFERENCE_NOT_FOUND (so every mutation below is what gets refused)', async () => {
    const metadata = await fetch(`${base}/metadata`, { headers: consumerHeaders(base, 'metadata') });
    expect(metadata.status).toBe(200);
    const booking = await fetch(`${base}/Appointment`, { method: 'POST', headers: consumerHeaders(base, 'book'), body: JSON.stringify(GHOST_BOOKING) });
    expect(booking.status).toBe(422);
    expect(((await booking.json()) as any).issue[0].details.coding[0].code).toBe('REFERENCE_NOT_FOUND');
    const xml = await fetch(`${base}/Appointment`, { method: 'POST', headers: { ...consumerHeaders(base, 'book'), 'Content-Type': 'application/fhir+xml' }, body: GHOST_XML });
    expect(xml.status).toBe(422);
  });

  it(`answers ${RUNS * BATCH} hostile requests with 4xx OperationOutcomes, stays up and bounded, and leaves the PAS and the audit trail right`, { timeout: 240_000 }, async () => {
    const facade = stack.facades[0]!;
    const pid = facade.child.pid as number;
    const before = integrity();
    const rssBefore = rssKiB(pid);
    const started = new Date();

    await fc.assert(
      fc.asyncProperty(fc.array(fuzzRequest, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const problems = await Promise.all(batch.map(async (r) => [r, await send(r)] as const));
        const failed = problems.filter(([, p]) => p !== undefined);
        if (failed.length > 0) {
          throw new Error(failed.map(([r, p]) => `${r.method} ${r.path} [${r.what.join('; ')}] → ${p}`).join('\n'));
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );

    const rssAfter = rssKiB(pid);
    console.log(`fuzz: ${sent} requests in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; facade RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB`);

    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(facade.child.exitCode).toBeNull();
    expect((await fetch(`${base}/metadata`, { headers: consumerHeaders(base, 'metadata') })).status).toBe(200);
    expect(rssAfter - rssBefore).toBeLessThan(150 * 1024);
    expect(integrity()).toEqual(before);

    // One audit record per request (the fuzz requests, plus the metadata check just above).
    let audited = 0;
    for await (const record of queryAudit(stack.auditDir, { from: started })) if (record.event === 'request' || record.event === 'client-error') audited++;
    expect(audited).toBe(sent + 1);
  });
});
