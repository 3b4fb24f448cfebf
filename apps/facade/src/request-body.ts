import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type Checked, fromXml, problems } from '@booking/fhir';
import type { Context } from 'hono';
import { requestBodyFormat } from './content-negotiation.js';
import { jsonDepthProblem } from './security/json-depth.js';

/**
 * Reading a FHIR request body (spec §3.1, §4): media type → 415, unknown Content-Encoding → 415,
 * gzip bigger than the body limit once inflated → 413, unreadable gzip / UTF-8 / JSON / XML → 400.
 */

declare module 'hono' {
  interface ContextVariableMap {
    /** The body limit (set by the fhirFormat middleware); also caps the inflated size of a gzip body. */
    maxBodyBytes: number;
  }
}

/** Used when no middleware set a limit (e.g. in unit tests): the facade's default MAX_BODY_BYTES. */
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const inflate = promisify(gunzip);

export async function readFhirBody(c: Context): Promise<Checked<unknown>> {
  const contentType = c.req.header('Content-Type');
  const format = requestBodyFormat(contentType);
  if (!format) {
    return { ok: false, problem: problems.unsupportedMediaType(`Content-Type must be application/fhir+json or application/fhir+xml (UTF-8); got "${contentType || 'none'}"`) };
  }

  const encoding = (c.req.header('Content-Encoding') ?? '').trim().toLowerCase();
  if (!['', 'identity', 'gzip', 'x-gzip'].includes(encoding)) {
    return { ok: false, problem: problems.unsupportedMediaType(`Content-Encoding "${encoding}" is not supported; send gzip or no encoding`) };
  }
  let bytes: Uint8Array = new Uint8Array(await c.req.arrayBuffer());
  if (encoding === 'gzip' || encoding === 'x-gzip') {
    const maxBytes = c.get('maxBodyBytes') ?? DEFAULT_MAX_BODY_BYTES;
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
