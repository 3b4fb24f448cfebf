import { checkBookingRequest, type Checked, type JsonObject, problems, validateResource } from '@booking/fhir';
import type { PasJob } from '@booking/queue';
import type { Context } from 'hono';
import { parseAppointmentSearch } from './appointment-search-params.js';
import { noteSearchedNhsNumber } from './audit/middleware.js';
import type { AppEnv } from './env.js';
import { refuse } from './problem-error.js';
import { readFhirBody } from './request-body.js';
import { requestHeader } from './request-headers.js';
import { parseSlotSearch } from './search-params.js';

/**
 * The Booking API interactions (spec §6), each in one place: how it is routed, named and
 * authorised, and what the request becomes — the job a worker runs, or (metadata) an answer the
 * facade gives itself. app.ts routes from this table and the checks (middleware/checks.ts) read it.
 */

/** A job as a route builds it; the app adds the ids every job carries. */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type JobRequest = Without<PasJob, 'traceRequestId'>;

export interface Interaction {
  name: 'metadata' | 'search-slot' | 'book' | 'read' | 'vread' | 'cancel' | 'search-appointment';
  /** The FHIR restful interaction code, for the CapabilityStatement. */
  fhirCode?: { type: 'Appointment' | 'Slot'; code: string };
  method: 'GET' | 'POST' | 'PUT';
  /** Path below the service root, Hono style (`:id` is one segment). */
  path: string;
  interactionId: string;
  /** The JWT `requested_scope` values this interaction accepts, any one of them (spec §5.2). */
  scopes: readonly string[];
  /**
   * The query's own rules, judged before the JWT (middleware/checks.ts `queryCheck`); what they find
   * is kept on the context for `job`. Only for GET /Slot, whose bad query the assurance harness sends
   * with a bad token and answers 400 (SFFSWithInvalidQuery). Nothing here may need the PAS: an
   * unknown service is the worker's 404, after authentication.
   */
  checkQuery?: (c: Context<AppEnv>, baseUrl: string) => void;
  /** The job for this request, once the request's own input is checked (throws a ProblemError if not). */
  job?: (c: Context<AppEnv>, baseUrl: string) => Promise<JobRequest> | JobRequest;
}

const URN = 'urn:nhs:names:services:careconnect:fhir:rest';

// The scopes of spec §5.2, with its scope history "for tolerance": consumers still send older ones.
/** Metadata and slot search. The harness's metadata token and the Postman sample send organization/*.read. */
const SLOT_READ = ['organization/slot.read', 'organization/*.read'];
/** Reads. Before 0.2.0-beta (Feb 2021) get-by-id was made with the write scope. */
const APPOINTMENT_READ = ['patient/appointment.read', 'patient/appointment.write'];
/** Listing a patient's appointments by NHS number discloses more than a read by id: the read scope alone (spec §6). */
const APPOINTMENT_SEARCH = ['patient/appointment.read'];
/** Book and cancel: the write scope only (a read token never changes a booking). */
const APPOINTMENT_WRITE = ['patient/appointment.write'];

export const INTERACTIONS: readonly Interaction[] = [
  // Answered by the facade itself (metadata.ts): the statement describes this software, not PAS data.
  { name: 'metadata', method: 'GET', path: '/metadata', interactionId: `${URN}:read:metadata`, scopes: SLOT_READ },
  {
    name: 'search-slot',
    method: 'GET',
    path: '/Slot',
    fhirCode: { type: 'Slot', code: 'search-type' },
    interactionId: `${URN}:search:slot`,
    scopes: SLOT_READ,
    checkQuery: (c, baseUrl) => {
      // searchParams decodes names and values; an unencoded "+" arrives as a space (§8.1).
      c.set('slotSearch', checked(parseSlotSearch(new URL(c.req.url).searchParams, new Date(), baseUrl)));
    },
    job: (c, baseUrl) => {
      // The self link keeps the query exactly as the consumer encoded it, under our public base URL.
      return { kind: 'search-slot', search: c.get('slotSearch'), baseUrl, selfLink: `${baseUrl}/Slot${new URL(c.req.url).search}` };
    },
  },
  {
    name: 'book',
    method: 'POST',
    path: '/Appointment',
    fhirCode: { type: 'Appointment', code: 'create' },
    interactionId: `${URN}:create:appointment`,
    scopes: APPOINTMENT_WRITE,
    job: async (c) => {
      const appointment = await fhirBody(c);
      checked(checkBookingRequest(appointment)); // the ordered rules of adapters/fhir booking-request.ts
      return { kind: 'book', requestId: requestKey(c), appointment: appointment as JsonObject };
    },
  },
  // Registry-era search (spec §12); the scope is unspecified there, so the read scopes apply.
  {
    name: 'search-appointment',
    method: 'GET',
    path: '/Appointment',
    fhirCode: { type: 'Appointment', code: 'search-type' },
    interactionId: `${URN}:search:appointment`,
    scopes: APPOINTMENT_SEARCH,
    job: (c, baseUrl) => {
      const url = new URL(c.req.url);
      const search = checked(parseAppointmentSearch(url.searchParams));
      if (search.nhsNumber !== undefined) noteSearchedNhsNumber(c, search.nhsNumber); // who looked up whom (audit trail)
      return { kind: 'search-appointment', ...search, baseUrl, selfLink: `${baseUrl}/Appointment${url.search}` };
    },
  },
  {
    name: 'read',
    method: 'GET',
    path: '/Appointment/:id',
    fhirCode: { type: 'Appointment', code: 'read' },
    interactionId: `${URN}:read:appointment`,
    scopes: APPOINTMENT_READ,
    job: (c) => ({ kind: 'read', appointmentId: c.req.param('id') as string }),
  },
  {
    name: 'vread',
    method: 'GET',
    path: '/Appointment/:id/_history/:vid',
    fhirCode: { type: 'Appointment', code: 'vread' },
    interactionId: `${URN}:read:appointment`,
    scopes: APPOINTMENT_READ,
    job: (c) => ({ kind: 'read', appointmentId: c.req.param('id') as string, versionId: c.req.param('vid') as string }),
  },
  {
    name: 'cancel',
    method: 'PUT',
    path: '/Appointment/:id',
    fhirCode: { type: 'Appointment', code: 'update' },
    interactionId: `${URN}:update:appointment`,
    scopes: APPOINTMENT_WRITE,
    // The body is checked as FHIR here; existence, If-Match and the changes are the worker's, in that order (§18).
    job: async (c) => {
      const appointment = await fhirBody(c);
      if (typeof appointment !== 'object' || appointment === null || (appointment as JsonObject).resourceType !== 'Appointment') {
        refuse(problems.badRequest('The request body must be a FHIR Appointment resource', ['Appointment']));
      }
      const invalid = validateResource(appointment);
      if (invalid) refuse(invalid);
      const ifMatch = requestHeader(c, 'If-Match');
      return {
        kind: 'cancel',
        requestId: requestKey(c),
        appointmentId: c.req.param('id') as string,
        ...(ifMatch !== undefined ? { ifMatch } : {}),
        appointment: appointment as JsonObject,
      };
    },
  },
];

/** `/Appointment/:id` → /^\/Appointment\/[^/]+$/ */
const PATTERNS = new Map(INTERACTIONS.map((i) => [i, new RegExp(`^${i.path.replace(/:[^/]+/g, '[^/]+')}$`)]));

/** The interaction for a method and path, or why there is none (unknown path → 404, wrong verb → 405). */
export function resolveInteraction(method: string, path: string): Interaction | 'not-found' | 'method-not-allowed' {
  const byPath = INTERACTIONS.filter((i) => PATTERNS.get(i)?.test(path));
  if (byPath.length === 0) return 'not-found';
  // HEAD is a GET without a body as far as routing goes.
  const verb = method === 'HEAD' ? 'GET' : method;
  return byPath.find((i) => i.method === verb) ?? 'method-not-allowed';
}

/** The methods a path answers, for the Allow header of a 405 (RFC 9110 §15.5.6); HEAD wherever GET. */
export function allowedMethods(path: string): string[] {
  const methods = INTERACTIONS.filter((i) => PATTERNS.get(i)?.test(path)).map((i) => i.method);
  return [...new Set(methods.includes('GET') ? [...methods, 'HEAD'] : methods)];
}

/** The FHIR interaction codes this server supports for a resource type. */
export function supportedInteractions(type: 'Appointment' | 'Slot'): string[] {
  return INTERACTIONS.flatMap((i) => (i.fhirCode?.type === type ? [i.fhirCode.code] : []));
}

/**
 * The consumer's X-Request-ID as the PAS request log keys it. The header check let in only a UUID
 * (spec §3.1), and a UUID in capitals is the same UUID (RFC 4122): lower-cased, so a retry is
 * recognised whatever the PAS's collation (SQL Server's usual one ignores case, SQLite's does not).
 */
function requestKey(c: Context<AppEnv>): string {
  return (requestHeader(c, 'X-Request-ID') as string).trim().toLowerCase();
}

function checked<T>(result: Checked<T>): T {
  if (!result.ok) refuse(result.problem);
  return result.value;
}

async function fhirBody(c: Context<AppEnv>): Promise<unknown> {
  return checked(await readFhirBody(c));
}
