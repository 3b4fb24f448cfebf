import { gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { gzipAnswers } from '../src/compression.js';
import { acceptsGzip } from '../src/content-negotiation.js';
import { BASE, booking, headersFor, inProcessApp, resourceReply, stored } from './support.js';

/** gzip of answers (spec §3.2): small ones in one call with a Content-Length, large ones too, same bytes. */

const GZIP = { 'Accept-Encoding': 'gzip, deflate' };

async function plainAndGzipped(path: string, interaction: 'metadata' | 'read', app = inProcessApp(() => resourceReply(stored(booking()), 200)).app) {
  const plain = await app.request(`${BASE}${path}`, { headers: headersFor(interaction) });
  const zipped = await app.request(`${BASE}${path}`, { headers: headersFor(interaction, GZIP) });
  return { plain, zipped, plainBytes: Buffer.from(await plain.arrayBuffer()), zippedBytes: Buffer.from(await zipped.arrayBuffer()) };
}

describe('gzipAnswers', () => {
  it('gzips a small answer in one piece: same bytes once inflated, Content-Length, Vary', async () => {
    const { plain, zipped, plainBytes, zippedBytes } = await plainAndGzipped('/metadata', 'metadata');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('content-length')).toBe(String(zippedBytes.byteLength));
    expect(gunzipSync(zippedBytes).equals(plainBytes)).toBe(true);
    expect(zippedBytes.byteLength).toBeLessThan(plainBytes.byteLength);
    for (const res of [plain, zipped]) expect(res.headers.get('vary')).toBe('Accept, Accept-Encoding');
    // The facade's own headers survive the swap of the response.
    expect(zipped.headers.get('content-type')).toBe(plain.headers.get('content-type'));
    expect(zipped.headers.get('x-request-id') ?? zipped.headers.get('ssp-traceid')).toBeTruthy();
  });

  it('gzips a large answer (over 64 KiB) to the same bytes, keeping its weak ETag', async () => {
    const big = stored({ ...booking(), comment: 'x'.repeat(200 * 1024) });
    const app = inProcessApp(() => resourceReply(big, 200)).app;
    const { plain, zipped, plainBytes, zippedBytes } = await plainAndGzipped('/Appointment/a1', 'read', app);
    expect(plain.status).toBe(200);
    expect(plainBytes.byteLength).toBeGreaterThan(200 * 1024);
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('content-length')).toBe(String(zippedBytes.byteLength));
    expect(gunzipSync(zippedBytes).equals(plainBytes)).toBe(true);
    const etag = plain.headers.get('etag');
    expect(etag).toBe('W/"1"');
    expect(zipped.headers.get('etag')).toBe(etag); // already weak: left alone
  });

  it('turns a strong ETag weak, and leaves no-transform, HEAD and non-compressible answers alone', async () => {
    const app = new Hono();
    app.use('*', gzipAnswers);
    app.get('/strong', (c) => c.json({ a: 1 }, 200, { ETag: '"v1"' }));
    app.get('/no-transform', (c) => c.json({ a: 1 }, 200, { 'Cache-Control': 'no-store, no-transform' }));
    app.get('/png', (c) => c.body('png bytes', 200, { 'Content-Type': 'image/png' }));
    app.get('/encoded', (c) => c.body('already', 200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'br' }));
    const get = (path: string, method = 'GET') => app.request(path, { method, headers: { 'Accept-Encoding': 'gzip' } });

    const strong = await get('/strong');
    expect(strong.headers.get('content-encoding')).toBe('gzip');
    expect(strong.headers.get('etag')).toBe('W/"v1"');
    expect(JSON.parse(gunzipSync(Buffer.from(await strong.arrayBuffer())).toString())).toEqual({ a: 1 });

    const kept = await get('/no-transform');
    expect(kept.headers.get('content-encoding')).toBeNull();
    expect(await kept.json()).toEqual({ a: 1 });
    expect((await get('/png')).headers.get('content-encoding')).toBeNull();
    expect((await get('/encoded')).headers.get('content-encoding')).toBe('br');

    const head = await get('/strong', 'HEAD');
    expect(head.headers.get('content-encoding')).toBeNull();
  });

  it('the CapabilityStatement, gzipped once per format and then reused, inflates to its own JSON or XML every time', async () => {
    const { app } = inProcessApp();
    for (let round = 0; round < 2; round++) {
      for (const format of ['json', 'xml']) {
        const plain = await app.request(`${BASE}/metadata?_format=${format}`, { headers: headersFor('metadata') });
        const zipped = await app.request(`${BASE}/metadata?_format=${format}`, { headers: headersFor('metadata', GZIP) });
        expect(zipped.headers.get('content-encoding'), format).toBe('gzip');
        const inflated = gunzipSync(Buffer.from(await zipped.arrayBuffer()));
        expect(inflated.equals(Buffer.from(await plain.arrayBuffer())), `${format}, round ${round}`).toBe(true);
        expect(inflated.toString().startsWith(format === 'xml' ? '<' : '{'), format).toBe(true);
      }
    }
  });

  it('HEAD through the facade: no Content-Encoding, no body', async () => {
    const { app } = inProcessApp();
    const res = await app.request(`${BASE}/metadata`, { method: 'HEAD', headers: headersFor('metadata', GZIP) });
    expect(res.headers.get('content-encoding')).toBeNull();
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('no gzip without Accept-Encoding, nor when gzip is refused with q=0', async () => {
    for (const acceptEncoding of [undefined, 'gzip;q=0', 'gzip;q=0, deflate', '*;q=0', 'identity', 'br']) {
      const { app } = inProcessApp();
      const res = await app.request(`${BASE}/metadata`, { headers: headersFor('metadata', { 'Accept-Encoding': acceptEncoding }) });
      expect(res.status, acceptEncoding).toBe(200);
      expect(res.headers.get('content-encoding'), acceptEncoding).toBeNull();
      expect((await res.json()).resourceType).toBe('CapabilityStatement');
    }
  });

  it.each([
    ['gzip', true],
    ['GZIP;q=0.5', true],
    ['deflate, *', true],
    ['*;q=0.1', true],
    ['gzip;q=0, *', false],
    ['*;q=0', false],
    ['deflate', false],
    ['', false],
  ])('Accept-Encoding %j accepts gzip: %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
