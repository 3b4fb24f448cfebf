import { parseAccept } from 'hono/utils/accept';

/**
 * Content negotiation for the consumer API (spec §4, §19 #9), as pure functions of the request's
 * `_format`, `Accept`, `Content-Type` and `Accept-Encoding`, so they can be tested without HTTP.
 */

export type FhirFormat = 'json' | 'xml';

export const MEDIA_TYPE: Record<FhirFormat, string> = {
  json: 'application/fhir+json',
  xml: 'application/fhir+xml',
};

/**
 * What a client may ask for in `_format` or `Accept`. Besides the FHIR types this tolerates the
 * legacy DSTU2 types and the generic ones the assurance harness's validator allows (spec §3.1, §4).
 */
const ACCEPTABLE: Record<string, FhirFormat> = {
  json: 'json',
  'application/fhir+json': 'json',
  'application/json+fhir': 'json',
  'application/json': 'json',
  xml: 'xml',
  'application/fhir+xml': 'xml',
  'application/xml+fhir': 'xml',
  'application/xml': 'xml',
  'text/xml': 'xml',
  'text/*': 'xml',
};

// Accept ranges that state no preference: fetch and curl send `*/*` by default.
const ANY = new Set(['*/*', 'application/*']);

/**
 * Request bodies: only the FHIR media types, current and legacy. Plain `application/json` and
 * `application/xml` are refused with 415, as the assurance harness expects (spec §3.1).
 */
const BODY_TYPES: Record<string, FhirFormat> = {
  'application/fhir+json': 'json',
  'application/json+fhir': 'json',
  'application/fhir+xml': 'xml',
  'application/xml+fhir': 'xml',
};

/** The format of an answer, or `unsupported` when the client asked only for formats we cannot write. */
export type ResponseFormat = FhirFormat | 'unsupported';

export interface NegotiationInput {
  /** The `_format` query parameter, as decoded (a `+` in the query string arrives as a space). */
  format?: string | undefined;
  accept?: string | undefined;
  contentType?: string | undefined;
}

/**
 * `_format` wins over `Accept`; with neither (or an Accept of only wildcards), the format of the
 * request body (`Content-Type`); with none of them, JSON. An empty value counts as absent.
 */
export function responseFormat({ format, accept, contentType }: NegotiationInput): ResponseFormat {
  if (format?.trim()) return ACCEPTABLE[mediaType(format)] ?? 'unsupported';
  const accepted = accept?.trim() ? fromAccept(accept) : 'any';
  if (accepted !== 'any') return accepted;
  if (contentType?.trim()) return ACCEPTABLE[mediaType(contentType)] ?? 'json';
  return 'json';
}

/** The format of a request body from its `Content-Type`, or undefined for anything to answer 415. */
export function requestBodyFormat(contentType: string | undefined): FhirFormat | undefined {
  if (!contentType) return undefined;
  const charset = parameters(contentType).get('charset');
  // The Booking Standard mandates UTF-8; a body declared in another charset would be misread.
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) return undefined;
  return BODY_TYPES[mediaType(contentType)];
}

/**
 * The best format in an Accept header: highest q wins, the earlier entry on a tie; q=0 means
 * "not this one"; `any` when the best is a wildcard. Parameters other than q (e.g. charset,
 * fhirVersion) are ignored.
 */
function fromAccept(accept: string): ResponseFormat | 'any' {
  let best: { format: FhirFormat | 'any'; q: number } | undefined;
  for (const range of accept.split(',')) {
    const type = mediaType(range);
    const format = ANY.has(type) ? 'any' : ACCEPTABLE[type];
    const q = Number(parameters(range).get('q') ?? '1');
    if (format && q > 0 && (!best || q > best.q)) best = { format, q };
  }
  return best?.format ?? 'unsupported';
}

/** `application/fhir+xml; charset=UTF-8` → `application/fhir+xml`; a space stands for a `+` decoded from a URL. */
function mediaType(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase().replace(/ /g, '+');
}

function parameters(value: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of value.split(';').slice(1)) {
    const [name = '', raw = ''] = part.split('=');
    params.set(name.trim().toLowerCase(), raw.trim().replace(/^"(.*)"$/, '$1'));
  }
  return params;
}

/** True when Accept-Encoding gives gzip a q above 0, explicitly or through `*` (as hono/compress). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  const accepts = parseAccept(header);
  const explicit = accepts.find((a) => a.type.toLowerCase() === 'gzip');
  const q = explicit ? explicit.q : (accepts.find((a) => a.type === '*')?.q ?? 0);
  return q > 0;
}
