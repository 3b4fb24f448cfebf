import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type Checked, fromXml, type Problem, problems } from '@booking/fhir';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { requestBodyFormat } from './content-negotiation.js';
import { refuse } from './problem-error.js';
import { nodeRequest, requestHeader } from './request-headers.js';
import { jsonDepthProblem } from './security/json-depth.js';

/**
 * Reading a FHIR request body (spec §3.1, §4): media type → 415, unknown Content-Encoding → 415,
 * gzip bigger than the body limit once inflated → 413, unreadable gzip / UTF-8 / JSON / XML → 400.
 */

declare module 'hono' {
  interface ContextVariableMap {
    /** The body limit (set by bodySizeCheck); also caps the inflated size of a gzip body. */
    maxBodyBytes: number;
    /** The request body's bytes, read (and size-checked) by bodySizeCheck. */
    bodyBytes: Uint8Array;
  }
}

const inflate = promisify(gunzip);

/** 415 for a body media type or encoding this API does not read; undefined when both are fine. */
export function bodyTypeProblem(c: Context): Problem | undefined {
  const contentType = requestHeader(c, 'Content-Type');
  if (!requestBodyFormat(contentType)) {
    return problems.unsupportedMediaType(`Content-Type must be application/fhir+json or application/fhir+xml (UTF-8); got "${contentType || 'none'}"`);
  }
  const encoding = (requestHeader(c, 'Content-Encoding') ?? '').trim().toLowerCase();
  if (!['', 'identity', 'gzip', 'x-gzip'].includes(encoding)) return problems.unsupportedMediaType(`Content-Encoding "${encoding}" is not supported; send gzip or no encoding`);
  return undefined;
}

/** 415 for the body's media type before 413 for its size (spec §18 step 5): on requests that carry one. */
export const bodyTypeCheck = createMiddleware(async (c, next) => {
  if (c.req.method === 'POST' || c.req.method === 'PUT') {
    const problem = bodyTypeProblem(c);
    if (problem) refuse(problem);
  }
  await next();
});

/**
 * 413 for a body over the limit (spec §18 step 5, after its media type): by its Content-Length
 * before reading, else while reading. The bytes are read from Node's request stream (a web Request
 * and its streams cost more than the rest of a small request: bench/FINDINGS.md) and kept for
 * readFhirBody.
 */
export function bodySizeCheck(maxBytes: number) {
  return createMiddleware(async (c, next) => {
    if (c.req.method === 'POST' || c.req.method === 'PUT') {
      const bytes = await readBodyBytes(c, maxBytes);
      // A body left unread gets Connection: close from securityHeaders (security/setup.ts), as every refusal does.
      if (bytes === undefined) refuse(problems.payloadTooLarge(`The body exceeds ${maxBytes} bytes`));
      c.set('bodyBytes', bytes);
      c.set('maxBodyBytes', maxBytes);
    }
    await next();
  });
}

/** The body's bytes, or undefined once they pass maxBytes. */
async function readBodyBytes(c: Context, maxBytes: number): Promise<Uint8Array | undefined> {
  const declared = requestHeader(c, 'Content-Length');
  if (declared !== undefined && requestHeader(c, 'Transfer-Encoding') === undefined && Number.parseInt(declared, 10) > maxBytes) return undefined;
  const incoming = nodeRequest(c);
  if (incoming) return readNodeBody(incoming, maxBytes);
  // In-process app.request() (tests): the web body.
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of c.req.raw.body ?? []) {
    size += chunk.byteLength;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * How much of a body over the limit is still read (and dropped) before the 413, and for how long:
 * a client that is still sending when the server closes the connection gets a write error instead
 * of the answer, so a moderately oversized upload is let finish; a huge one is cut off.
 */
const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
const DISCARD_MAX_MS = 1000;

function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let discardTimer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(discardTimer);
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const tooLarge = () => {
      done();
      resolve(undefined);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= maxBytes) return void chunks.push(chunk);
      if (discardTimer === undefined) {
        chunks.length = 0; // nothing kept from here on
        discardTimer = setTimeout(tooLarge, DISCARD_MAX_MS);
      }
      if (size > maxBytes + DISCARD_MAX_BYTES) tooLarge(); // the rest is left unread (Connection: close)
    };
    const onEnd = () => {
      done();
      resolve(size <= maxBytes ? Buffer.concat(chunks, size) : undefined);
    };
    const onError = (error: Error) => {
      done();
      reject(error); // a client gone mid-body: isClientAbort (security/setup.ts) tells it apart
    };
    // Closed before its end without an error event: the client went away.
    const onClose = () => onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

export async function readFhirBody(c: Context): Promise<Checked<unknown>> {
  const unreadable = bodyTypeProblem(c);
  if (unreadable) return { ok: false, problem: unreadable };
  const format = requestBodyFormat(requestHeader(c, 'Content-Type'));
  const encoding = (requestHeader(c, 'Content-Encoding') ?? '').trim().toLowerCase();
  let bytes = c.get('bodyBytes') as Uint8Array | undefined;
  if (!bytes) throw new Error('readFhirBody runs after bodySizeCheck, which reads the body');
  if (encoding === 'gzip' || encoding === 'x-gzip') {
    const maxBytes = c.get('maxBodyBytes');
    try {
      // maxOutputLength stops a gzip bomb while inflating, not after.
      bytes = await inflate(bytes, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        return { ok: false, problem: problems.payloadTooLarge(`The body exceeds ${maxBytes} bytes once decompressed`) };
      }
      return { ok: false, problem: problems.notWellFormed(`The body is not valid gzip: ${(error as Error).message}`) };
    }
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); // also drops a byte order mark
  } catch {
    return { ok: false, problem: problems.notWellFormed('The body is not valid UTF-8') };
  }

  if (format === 'xml') return fromXml(text);
  const tooDeep = jsonDepthProblem(text); // 400 before parsing (security/json-depth.ts)
  if (tooDeep) return { ok: false, problem: tooDeep };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, problem: problems.notWellFormed(`The body is not valid JSON: ${(error as Error).message}`) };
  }
}
