import { gzipSync } from 'node:zlib';
import type { MiddlewareHandler } from 'hono';
import { COMPRESSIBLE_CONTENT_TYPE_REGEX } from 'hono/compress';
import { acceptsGzip } from './content-negotiation.js';
import { type AnswerText, answerText } from './fhir-response.js';
import { requestHeader } from './request-headers.js';

/**
 * gzip of every answer whose consumer accepts it (spec §3.2), with hono/compress's rules
 * (Accept-Encoding q-values and `*`, Vary, no HEAD/206/encoded/no-transform/non-compressible
 * answers, weak ETag), but without its web CompressionStream, which cost ≈ 10× the CPU of one
 * zlib call per small answer (bench/FINDINGS.md). One synchronous zlib call per answer, with its
 * Content-Length: ≈ 0.03 ms for 3 KB; answers above LARGE_BYTES (1,000-slot searches, ≈ 540 KB)
 * at level 1, 1.5 instead of 3.75 ms for 46 instead of 40 KB. Not on the thread pool: there, 64
 * concurrent large answers each held a zlib stream and their bytes at once, for no less CPU.
 * The text of an answer fhir-response.ts wrote is taken from there rather than read back out of the
 * Response (no web Response and stream are built for it), and the CapabilityStatement is gzipped once.
 */
const LARGE_BYTES = 64 * 1024;
const noTransform = /(?:^|,)\s*?no-transform\s*?(?:,|$)/i;
const varyHasAcceptEncoding = /(?:^|,)\s*accept-encoding\s*(?:,|$)/i;

export const gzipAnswers: MiddlewareHandler = async (c, next) => {
  await next();
  const res = c.res;
  const type = res.headers.get('Content-Type');
  const cacheControl = res.headers.get('Cache-Control');
  if (
    res.status === 206 ||
    res.headers.has('Content-Encoding') ||
    res.headers.has('Transfer-Encoding') ||
    c.req.method === 'HEAD' ||
    !type ||
    !COMPRESSIBLE_CONTENT_TYPE_REGEX.test(type) ||
    (cacheControl && noTransform.test(cacheControl))
  ) {
    return;
  }
  const vary = res.headers.get('Vary');
  // On the response's own headers: c.header() would rebuild a finished response around a stream of its body.
  if (vary !== '*' && !(vary && varyHasAcceptEncoding.test(vary))) res.headers.set('Vary', vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding');
  if (!acceptsGzip(requestHeader(c, 'Accept-Encoding'))) return;
  // Answers written by fhir-response.ts come with their text; reading `res.body` would build a web Response.
  const known = answerText(res);
  if (!known && !res.body) return;

  const zipped = await gzipped(res, known);
  const headers = new Headers(res.headers);
  headers.set('Content-Encoding', 'gzip');
  headers.set('Content-Length', String(zipped.byteLength));
  const etag = headers.get('ETag');
  if (etag && !etag.startsWith('W/')) headers.set('ETag', `W/${etag}`);
  // Cleared first: assigning over a response copies its headers back (the strong ETag too) and
  // re-wraps the body as a web stream, which @hono/node-server would then pump instead of one write.
  c.res = undefined;
  c.res = new Response(zipped, { status: res.status, headers }); // no statusText: reading it would build a web Response too
};

async function gzipped(res: Response, known: AnswerText | undefined): Promise<Uint8Array> {
  if (known?.frozen) {
    known.frozen.gzip ??= gzipSync(known.frozen.text);
    return known.frozen.gzip;
  }
  const plain = known ? Buffer.from(known.text) : new Uint8Array(await res.arrayBuffer());
  return gzipSync(plain, plain.byteLength > LARGE_BYTES ? { level: 1 } : {});
}
