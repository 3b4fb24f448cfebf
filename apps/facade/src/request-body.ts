import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { type Checked, fromXml, type Problem, problems } from '@booking/fhir';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { requestBodyFormat } from './content-negotiation.js';
import { ProblemError } from './problem-error.js';
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

/** 415 for a body media type or encoding this API does not read; undefined when both are fine. */
export function bodyTypeProblem(c: Context): Problem | undefined {
  const contentType = c.req.header('Content-Type');
  if (!requestBodyFormat(contentType)) {
    return problems.unsupportedMediaType(`Content-Type must be application/fhir+json or application/fhir+xml (UTF-8); got "${contentType || 'none'}"`);
  }
  const encoding = (c.req.header('Content-Encoding') ?? '').trim().toLowerCase();
  if (!['', 'identity', 'gzip', 'x-gzip'].includes(encoding)) return problems.unsupportedMediaType(`Content-Encoding "${encoding}" is not supported; send gzip or no encoding`);
  return undefined;
}

/** 415 for the body's media type before 413 for its size (spec §18 step 5): on requests that carry one. */
export const bodyTypeCheck = createMiddleware(async (c, next) => {
  if (c.req.method === 'POST' || c.req.method === 'PUT') {
    const problem = bodyTypeProblem(c);
    if (problem) throw new ProblemError(problem);
  }
  await next();
});

export async function readFhirBody(c: Context): Promise<Checked<unknown>> {
  const unreadable = bodyTypeProblem(c);
  if (unreadable) return { ok: false, problem: unreadable };
  const format = requestBodyFormat(c.req.header('Content-Type'));
  const encoding = (c.req.header('Content-Encoding') ?? '').trim().toLowerCase();
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
