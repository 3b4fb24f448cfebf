import { spineCodeOf } from '@booking/fhir';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.js';
import { correlationIdOf } from '../middleware/request-ids.js';
import { nodeRequest, requestHeader } from '../request-headers.js';
import { type BookingClaims, peekAuthorNames, peekProvenance } from '../security/jwt.js';
import { clientIdentityOf } from '../security/tls.js';
import type { AuditLog, AuditRecord } from './log.js';

/**
 * One audit record per request, accepted or refused (spec §17). Mounted before every check (just
 * inside requestIds and request logging), so 404/405/403/400/413/415 refusals are recorded too. What
 * a response says (its error code, the Appointment and Slot ids) is noted by `noteResource`, called
 * where every FHIR body is written, and `noteBundle` for an Appointment search, whose NHS number
 * `noteSearchedNhsNumber` records.
 */

/** What the request's handlers tell the audit trail. */
export interface AuditNotes {
  outcome?: string;
  appointmentIds: Set<string>;
  slotIds: Set<string>;
  searchedNhsNumber?: string;
}

declare module 'hono' {
  interface ContextVariableMap {
    audit: AuditNotes;
  }
}

/** FHIR id syntax: anything else from the URL is not an id and stays out of the trail. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_HEADER_VALUE = 200;

/** Records the outcome code of an OperationOutcome, or the ids an Appointment touches. */
export function noteResource(c: Context, resource: unknown): void {
  const notes = c.get('audit') as AuditNotes | undefined;
  if (!notes || typeof resource !== 'object' || resource === null) return;
  const r = resource as Record<string, any>;
  if (r.resourceType === 'OperationOutcome') {
    const code = spineCodeOf(r);
    if (typeof code === 'string') notes.outcome = code;
  } else if (r.resourceType === 'Appointment') {
    addId(notes.appointmentIds, r.id);
    for (const contained of Array.isArray(r.contained) ? r.contained : []) {
      if (contained?.resourceType === 'Slot') addId(notes.slotIds, contained.id);
    }
    for (const ref of Array.isArray(r.slot) ? r.slot : []) {
      const m = typeof ref?.reference === 'string' ? /^(?:#|Slot\/)([^/]+)$/.exec(ref.reference) : null;
      if (m) addId(notes.slotIds, m[1]);
    }
  }
}

/** Records the ids of the Appointments a searchset Bundle (its JSON text) discloses. */
export function noteBundle(c: Context, json: string): void {
  if (!c.get('audit')) return;
  const bundle = JSON.parse(json) as { entry?: { resource?: unknown }[] };
  for (const entry of Array.isArray(bundle.entry) ? bundle.entry : []) noteResource(c, entry?.resource);
}

/**
 * Records the NHS number an Appointment search asks for (checked valid), whatever it finds, so the
 * trail answers "who looked up this patient". An identifier, as the trail allows; never logged.
 */
export function noteSearchedNhsNumber(c: Context, nhsNumber: string): void {
  const notes = c.get('audit') as AuditNotes | undefined;
  if (notes) notes.searchedNhsNumber = nhsNumber;
}

function addId(set: Set<string>, id: unknown) {
  if (typeof id === 'string' && FHIR_ID.test(id)) set.add(id);
}

/** `onError` is told of a record that could not be written, with the request it records. */
export function auditTrail(options: { log: AuditLog; basePath: string; onError: (error: Error, c: Context<AppEnv>, record: AuditRecord) => void }) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    const notes: AuditNotes = { appointmentIds: new Set(), slotIds: new Set() };
    c.set('audit', notes);
    let threw = false;
    try {
      await next();
    } catch (error) {
      threw = true;
      throw error;
    } finally {
      const record = buildRecord(c, notes, options.basePath, threw, Math.round(performance.now() - started));
      // A served CapabilityStatement discloses no patient data and changes nothing: its record is
      // written with the next flush (within AuditLog's LAZY_FLUSH_MS) without holding the answer
      // for the disk, which was most of that call's latency (docs/performance.md).
      if (record.interaction === 'metadata' && record.status === 200) options.log.append(record, (error) => options.onError(error as Error, c, record));
      // Every other record is durable before the answer leaves; a failing disk is logged loudly but
      // does not turn an answered booking into an error the consumer would retry.
      else await options.log.write(record).catch((error: Error) => options.onError(error, c, record));
    }
  });
}

function buildRecord(c: Context<AppEnv>, notes: AuditNotes, basePath: string, threw: boolean, durationMs: number): AuditRecord {
  const status = threw ? 500 : c.res.status;
  const path = c.req.path.slice(0, MAX_HEADER_VALUE);
  const local = path.startsWith(basePath) ? path.slice(basePath.length) : path;
  addId(notes.appointmentIds, /^\/Appointment\/([^/]+)/.exec(local)?.[1]);
  const location = c.res.headers.get('Location');
  if (location) addId(notes.appointmentIds, /\/Appointment\/([^/]+)\/_history\//.exec(location)?.[1]);

  const header = (name: string) => requestHeader(c, name)?.slice(0, MAX_HEADER_VALUE) || undefined;
  const claims = c.get('claims') as BookingClaims | undefined;
  const jwt = claims ?? peekProvenance(requestHeader(c, 'Authorization'));
  const refusal = c.get('refusal');
  const incoming = nodeRequest(c);
  const client = clientIdentityOf(incoming?.socket);

  const record: AuditRecord = {
    time: new Date().toISOString(),
    event: 'request',
    interaction: c.get('interaction')?.name ?? 'unknown',
    method: c.req.method,
    path,
    status,
    outcome: notes.outcome ?? successOutcome(c.req.method, status),
    // Why a refusal was refused, when that quotes nothing sent; else the elements at fault (problem-error.ts).
    ...(refusal?.reason ? { reason: refusal.reason } : {}),
    ...(refusal?.elements ? { elements: refusal.elements } : {}),
    durationMs,
    requestId: c.get('requestId'),
    consumerRequestId: header('X-Request-ID'),
    correlationId: correlationIdOf(c),
    sspTraceId: header('Ssp-TraceID'),
    sspFrom: header('Ssp-From'),
    sspTo: header('Ssp-To'),
    sspInteractionId: header('Ssp-InteractionID'),
    ...(jwt
      ? {
          jwtAccepted: claims !== undefined,
          iss: jwt.iss,
          sub: jwt.sub,
          requestedScope: jwt.requestedScope,
          organisationOds: jwt.organizationOds,
          deviceId: jwt.deviceId,
          practitionerId: jwt.practitionerId,
          practitionerSdsUserId: jwt.practitionerSdsUserId,
          practitionerSdsRoleProfileId: jwt.practitionerSdsRoleProfileId,
          // Creates and updates (book, cancel) also record who by name (spec §5.3).
          ...(c.req.method === 'POST' || c.req.method === 'PUT' ? peekAuthorNames(requestHeader(c, 'Authorization')) : {}),
        }
      : {}),
    ...(notes.appointmentIds.size ? { appointmentIds: [...notes.appointmentIds] } : {}),
    ...(notes.slotIds.size ? { slotIds: [...notes.slotIds] } : {}),
    ...(notes.searchedNhsNumber ? { searchedNhsNumber: notes.searchedNhsNumber } : {}),
    clientAddress: incoming?.socket?.remoteAddress,
    ...(client ? { clientCertCn: client.commonNames[0], clientCertSha256: client.fingerprint256 } : {}),
  };
  return record; // its undefined fields are left out when AuditLog writes it as JSON
}

function successOutcome(method: string, status: number): string {
  if (status === 201) return 'RESOURCE_CREATED';
  if (status >= 200 && status < 300) return method === 'PUT' ? 'RESOURCE_UPDATED' : 'ok';
  return `HTTP_${status}`;
}
