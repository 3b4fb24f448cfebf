import { gunzipSync, gzipSync } from 'node:zlib';
import { fromXml, problems, toXml } from '@booking/fhir';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { gzipAnswers } from '../src/compression.js';
import { requestBodyFormat, responseFormat } from '../src/content-negotiation.js';
import { fhirFormat, sendProblem, sendResource } from '../src/fhir-response.js';
import { ProblemError } from '../src/problem-error.js';
import { requestIds } from '../src/middleware/request-ids.js';
import { bodySizeCheck, readFhirBody } from '../src/request-body.js';

describe('responseFormat: _format, then Accept, then Content-Type, then JSON (spec §4)', () => {
  it.each([
    [{}, 'json'],
    [{ format: 'json' }, 'json'],
    [{ format: 'xml' }, 'xml'],
    [{ format: 'application/fhir+json' }, 'json'],
    [{ format: 'application/fhir+xml' }, 'xml'],
    // An unencoded + in a query string arrives as a space.
    [{ format: 'application/fhir xml' }, 'xml'],
    [{ format: 'application/fhir+xml;charset=utf-8' }, 'xml'],
    [{ format: 'application/json+fhir' }, 'json'],
    [{ format: 'application/xml+fhir' }, 'xml'],
    [{ format: 'application/json' }, 'json'],
    [{ format: 'application/xml' }, 'xml'],
    [{ format: 'text/xml' }, 'xml'],
    [{ format: 'XML' }, 'xml'],
    [{ format: 'text/html' }, 'unsupported'],
    [{ format: 'html' }, 'unsupported'],
    [{ format: 'foo' }, 'unsupported'],
    [{ format: 'json', accept: 'application/fhir+xml' }, 'json'],
    [{ format: 'xml', accept: 'application/fhir+json' }, 'xml'],
    [{ format: 'foo', accept: 'application/fhir+json' }, 'unsupported'],
    [{ format: '', accept: 'application/fhir+xml' }, 'xml'],
    [{ accept: 'application/fhir+xml' }, 'xml'],
    [{ accept: 'application/fhir+xml;charset=utf-8' }, 'xml'],
    [{ accept: 'application/fhir+json' }, 'json'],
    [{ accept: 'application/xml+fhir' }, 'xml'],
    [{ accept: 'text/xml' }, 'xml'],
    [{ accept: '*/*' }, 'json'],
    [{ accept: 'application/*' }, 'json'],
    // Only wildcards: no preference, so the body's format decides.
    [{ accept: '*/*', contentType: 'application/fhir+xml' }, 'xml'],
    [{ accept: 'application/fhir+json;q=0.5, */*', contentType: 'application/fhir+xml' }, 'xml'],
    [{ accept: 'application/fhir+json, */*;q=0.5', contentType: 'application/fhir+xml' }, 'json'],
    [{ accept: 'text/html' }, 'unsupported'],
    [{ accept: 'text/html, application/xhtml+xml' }, 'unsupported'],
    [{ accept: 'text/html, */*;q=0.1' }, 'json'],
    [{ accept: 'application/fhir+json;q=0.5, application/fhir+xml' }, 'xml'],
    [{ accept: 'application/fhir+xml, application/fhir+json' }, 'xml'],
    [{ accept: 'application/fhir+xml;q=0, application/fhir+json' }, 'json'],
    [{ accept: 'application/fhir+xml;q=0' }, 'unsupported'],
    [{ accept: 'application/fhir+xml', contentType: 'application/fhir+json' }, 'xml'],
    [{ contentType: 'application/fhir+xml' }, 'xml'],
    [{ contentType: 'application/fhir+json; charset=utf-8' }, 'json'],
    [{ contentType: 'application/xml' }, 'xml'],
    [{ contentType: 'text/plain' }, 'json'],
    [{ accept: '', contentType: 'application/fhir+xml' }, 'xml'],
  ])('%j → %s', (input, expected) => {
    expect(responseFormat(input)).toBe(expected);
  });
});

describe('requestBodyFormat: only FHIR media types, in UTF-8', () => {
  it.each([
    ['application/fhir+json', 'json'],
    ['application/fhir+json;charset=utf-8', 'json'],
    ['Application/FHIR+JSON; charset="UTF-8"', 'json'],
    ['application/json+fhir', 'json'],
    ['application/fhir+xml', 'xml'],
    ['application/fhir+xml; charset=utf-8', 'xml'],
    ['application/xml+fhir', 'xml'],
    ['application/json', undefined],
    ['application/xml', undefined],
    ['text/xml', undefined],
    ['text/plain', undefined],
    ['application/fhir+json;charset=iso-8859-1', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%s → %s', (contentType, expected) => {
    expect(requestBodyFormat(contentType)).toBe(expected);
  });
});

/** The facade's response path in-process: requestIds, gzipAnswers, fhirFormat and bodySizeCheck as in app.ts, one echo route. */
function echoApp(maxBodyBytes = 4096) {
  const app = new Hono();
  app.use('*', requestIds);
  app.use('*', gzipAnswers);
  app.use('*', fhirFormat());
  app.use('*', bodySizeCheck(maxBodyBytes));
  app.post('/echo', async (c) => {
    const body = await readFhirBody(c);
    if (!body.ok) return sendProblem(c, body.problem);
    return sendResource(c, 201, body.value as object);
  });
  app.get('/fail', (c) => sendProblem(c, problems.forbidden('no token')));
  // As in app.ts: refusals are thrown and rendered here.
  app.onError((error, c) => (error instanceof ProblemError ? sendProblem(c, error.problem) : c.text('unexpected', 500)));
  return app;
}

const patient = { resourceType: 'Patient', id: 'p1', active: true, name: [{ family: 'Bloggs', given: ['Jane'] }] };

async function post(body: BodyInit, headers: Record<string, string>, query = '') {
  return echoApp().request(`/echo${query}`, { method: 'POST', body, headers });
}

describe('sendResource and readFhirBody', () => {
  it('reads XML and answers XML, with charset and Vary', async () => {
    const res = await post(toXml(patient), { 'Content-Type': 'application/fhir+xml' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/fhir+xml;charset=utf-8');
    expect(res.headers.get('vary')).toBe('Accept, Accept-Encoding');
    expect(fromXml(await res.text())).toEqual({ ok: true, value: patient });
  });

  it('reads JSON and answers XML when Accept asks for it, JSON when _format overrides', async () => {
    const json = JSON.stringify(patient);
    const xml = await post(json, { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+xml' });
    expect(xml.headers.get('content-type')).toBe('application/fhir+xml;charset=utf-8');
    const overridden = await post(json, { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+xml' }, '?_format=json');
    expect(overridden.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
    expect(await overridden.json()).toEqual(patient);
  });

  it('415 for a _format or Accept it cannot honour, the OperationOutcome in JSON', async () => {
    for (const [query, headers] of [['?_format=text/html', {}], ['', { Accept: 'text/html' }]] as const) {
      const res = await post(JSON.stringify(patient), { 'Content-Type': 'application/fhir+json', ...headers }, query);
      expect(res.status).toBe(415);
      expect(res.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
      expect((await res.json()).issue[0].details.coding[0].code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('answers errors in XML when XML was asked for', async () => {
    const res = await echoApp().request('/fail?_format=xml');
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/fhir+xml;charset=utf-8');
    const oo = fromXml(await res.text());
    expect(oo.ok && (oo.value as any).issue[0].details.coding[0].code).toBe('ACCESS DENIED');
  });

  it('415 for plain application/json and application/xml bodies', async () => {
    for (const type of ['application/json', 'application/xml']) {
      const res = await post(JSON.stringify(patient), { 'Content-Type': type });
      expect(res.status).toBe(415);
    }
  });

  it('inflates gzip bodies, and gzips answers when asked, keeping the request-id headers', async () => {
    const res = await post(gzipSync(toXml(patient)), {
      'Content-Type': 'application/fhir+xml',
      'Content-Encoding': 'gzip',
      'Accept-Encoding': 'gzip',
      Accept: 'application/fhir+json',
      'X-Request-ID': '7c9e6679-7425-40de-944b-e07fc1f90ae7',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('x-correlation-id')).toBe('7c9e6679-7425-40de-944b-e07fc1f90ae7');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(gunzipSync(Buffer.from(await res.arrayBuffer())).toString())).toEqual(patient);
  });

  it('does not gzip answers unless asked', async () => {
    const res = await post(JSON.stringify(patient), { 'Content-Type': 'application/fhir+json' });
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.json()).toEqual(patient);
  });

  it('413 when a gzip body inflates beyond the body limit; 400 for a corrupt one; 415 for another encoding', async () => {
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, ' '));
    expect(bomb.length).toBeLessThan(4096);
    const big = await post(bomb, { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'gzip' });
    expect(big.status).toBe(413);

    const corrupt = await post(gzipSync(JSON.stringify(patient)).subarray(0, 20), { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'gzip' });
    expect(corrupt.status).toBe(400);
    expect((await corrupt.json()).issue[0].details.coding[0].code).toBe('MESSAGE_NOT_WELL_FORMED');

    const notGzip = await post(JSON.stringify(patient), { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'gzip' });
    expect(notGzip.status).toBe(400);

    const brotli = await post(JSON.stringify(patient), { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'br' });
    expect(brotli.status).toBe(415);
  });

  it('400 for a body that is not UTF-8', async () => {
    const res = await post(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), { 'Content-Type': 'application/fhir+json' });
    expect(res.status).toBe(400);
  });
});
