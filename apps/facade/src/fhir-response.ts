import { gunzipSync } from 'node:zlib';
import { type JsonObject, operationOutcome, type Problem, problems, toXml } from '@booking/fhir';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import { createMiddleware } from 'hono/factory';
import { noteResource } from './audit/middleware.js';
import { acceptsGzip, type FhirFormat, MEDIA_TYPE, responseFormat, type ResponseFormat } from './content-negotiation.js';
import { refusalOf, refuse } from './problem-error.js';
import { requestHeader } from './request-headers.js';

/**
 * Writing FHIR bodies: every response of the consumer API goes through here, in the format the
 * request asked for (spec §4): `_format`, else `Accept`, else the body's `Content-Type`, else JSON.
 */

export const FHIR_JSON = MEDIA_TYPE.json;

/** The format this request asked for its answer. */
export function requestedFormat(c: Context): ResponseFormat {
  return responseFormat({ format: c.req.query('_format'), accept: requestHeader(c, 'Accept'), contentType: requestHeader(c, 'Content-Type') });
}

export function sendResource(c: Context, status: number, resource: JsonObject | object): Response {
  noteResource(c, resource); // the audit trail's error code and Appointment/Slot ids
  const format = answerFormat(c);
  const frozen = Object.isFrozen(resource) ? frozenBody(resource, format) : undefined;
  const text = frozen?.text ?? (format === 'xml' ? xmlOrJson(c, resource, () => JSON.stringify(resource)) : JSON.stringify(resource));
  return withText(c.body(text, status as 200), { text, frozen });
}

/**
 * A Bundle the worker serialised and gzipped (BundleReply): its bytes as they came to a consumer
 * that takes gzipped JSON, inflated for one that does not, converted for XML.
 */
export function sendGzippedJson(c: Context, status: number, gzipped: Uint8Array): Response {
  const format = answerFormat(c);
  if (format === 'json' && c.req.method !== 'HEAD' && acceptsGzip(requestHeader(c, 'Accept-Encoding'))) {
    c.header('Content-Encoding', 'gzip'); // so gzipAnswers leaves it alone
    c.header('Content-Length', String(gzipped.byteLength));
    return c.body(gzipped, status as 200);
  }
  return writeSerialised(c, status, inflateBundle(gzipped), format);
}

/** The JSON text of a Bundle the worker gzipped. */
export function inflateBundle(gzipped: Uint8Array): string {
  return gunzipSync(gzipped, { maxOutputLength: MAX_BUNDLE_BYTES }).toString('utf8');
}
/** No Bundle the worker writes comes near this (1,000 slots with every include ≈ 540 KB). */
const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

/** A resource the worker already serialised (search Bundles): JSON as it came, XML converted from it. */
export function sendSerialised(c: Context, status: number, json: string): Response {
  return writeSerialised(c, status, json, answerFormat(c));
}

function writeSerialised(c: Context, status: number, json: string, format: FhirFormat): Response {
  const text = format === 'xml' ? xmlOrJson(c, JSON.parse(json) as JsonObject, () => json) : json;
  return withText(c.body(text, status as 200), { text });
}

/**
 * The answer in XML, or in JSON if it cannot be written as XML (a narrative stored before
 * narratives were checked): a 500 after a booking would hide that the slot is booked, and every
 * later read of it would fail too. JSON carries any stored resource; the Content-Type says which
 * format came, and the log says why.
 */
function xmlOrJson(c: Context, resource: object, json: () => string): string {
  try {
    return toXml(resource);
  } catch (error) {
    (c.get('log') as Logger | undefined)?.error({ err: String((error as Error).message).split('\n')[0] }, 'answer not writable as XML: sent as JSON');
    c.header('Content-Type', `${MEDIA_TYPE.json};charset=utf-8`);
    return json();
  }
}

/**
 * What gzip (compression.ts) may use instead of reading an answer written here back out of its
 * Response, which makes @hono/node-server build a web Response and a stream around the body: the
 * text, or the frozen body whose gzip can be kept with it.
 */
export interface AnswerText {
  text: string;
  frozen?: FrozenBody | undefined;
}
const answerTexts = new WeakMap<Response, AnswerText>();
function withText(res: Response, known: AnswerText): Response {
  answerTexts.set(res, known);
  return res;
}
/** What is known of an answer's body, if sendResource or sendSerialised wrote it. */
export function answerText(res: Response): AnswerText | undefined {
  return answerTexts.get(res);
}

/** The format of this answer, with its Content-Type and Vary headers set. */
function answerFormat(c: Context): FhirFormat {
  // A request for a format we cannot write was refused by fhirFormat; if an earlier check answers
  // first (403, 404, ...), that answer still needs a body, so it comes in JSON.
  const requested = requestedFormat(c);
  const format: FhirFormat = requested === 'unsupported' ? 'json' : requested;
  c.header('Content-Type', `${MEDIA_TYPE[format]};charset=utf-8`);
  // The body depends on Accept, and (hono/compress) on Accept-Encoding.
  c.header('Vary', 'Accept, Accept-Encoding');
  return format;
}

function serialise(resource: JsonObject | object, format: FhirFormat): string {
  return format === 'xml' ? toXml(resource) : JSON.stringify(resource);
}

/** A frozen resource (the CapabilityStatement) cannot change: its JSON and XML are written once, and gzipped once. */
export interface FrozenBody {
  text: string;
  gzip?: Uint8Array;
}
const frozenBodies = new WeakMap<object, Partial<Record<FhirFormat, FrozenBody>>>();
function frozenBody(resource: object, format: FhirFormat): FrozenBody {
  let bodies = frozenBodies.get(resource);
  if (!bodies) {
    bodies = {};
    frozenBodies.set(resource, bodies);
  }
  bodies[format] ??= { text: serialise(resource, format) };
  return bodies[format];
}

/** Renders a problem as an OperationOutcome; called by the app's onError (and its notFound). */
export function sendProblem(c: Context, p: Problem): Response {
  c.set('refusal', refusalOf(p)); // for the request's log line and its audit record
  return sendResource(c, p.status, operationOutcome(p, c.get('requestId') ?? crypto.randomUUID()));
}

/**
 * 415 for a `_format` or `Accept` we cannot honour (spec §4, §19 #9); placed after the JWT and
 * header checks, where the harness expects media-type failures (§18 step 5).
 */
export function fhirFormat() {
  return createMiddleware(async (c, next) => {
    if (requestedFormat(c) === 'unsupported') {
      const asked = (c.req.query('_format') ? `_format=${c.req.query('_format')}` : `Accept: ${requestHeader(c, 'Accept')}`).slice(0, 200);
      refuse(problems.unsupportedMediaType(`Cannot answer in the format asked for (${asked}); use application/fhir+json or application/fhir+xml`));
    }
    await next();
  });
}

/** RFC 7231 IMF-fixdate for Last-Modified. */
export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}
