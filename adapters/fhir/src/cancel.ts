import { isInstant } from './booking-request.js';
import { propertiesOfType } from './definitions.js';
import { type Problem, problems } from './operation-outcome.js';
import { asArray, EXTENSIONS, isObject, type JsonObject } from './types.js';
import type { VersionStamp } from './appointment.js';

/**
 * Cancel = PUT of the Appointment as read, with only `status` → `cancelled` (spec §11). The
 * submitted resource is compared with the stored current version on what matters to the patient
 * and the PAS — patient, times, slot, participants, description, contained resources — and not on
 * what consumers legitimately rebuild differently: meta, text, element order, the format, the
 * server's `created`, the identifier the provider itself added to a Patient without an NHS number,
 * and Patient.contact (the assurance harness re-sends it from its template, spec §11.2). Instants
 * (Appointment and Slot start and end, DocumentReference indexed) are compared as points in time,
 * to the millisecond: FHIR libraries rewrite them (.NET Firely writes `+00:00` for `.000Z`), and
 * receivers must take any offset (spec §16).
 */

/** Top-level elements that must not change (apart from status and the cancellation reason). */
const COMPARED_ELEMENTS = [
  'start',
  'end',
  'description',
  'slot',
  'supportingInformation',
  'participant',
  'incomingReferral',
  'appointmentType',
  'serviceCategory',
  'serviceType',
  'specialty',
  'reason',
  'indication',
  'priority',
  'minutesDuration',
  'comment',
  'requestedPeriod',
  'identifier',
] as const;

/** Elements of contained resources that are ignored in the comparison. */
const IGNORED_CONTAINED = ['meta', 'text', 'contact'];

export function checkCancellation(storedAsIs: JsonObject, submittedAsIs: JsonObject, localPatientIdSystem: string): Problem | undefined {
  if (submittedAsIs.status !== 'cancelled') {
    return problems.cancelChangesOtherFields('A PUT may only cancel: Appointment.status must be "cancelled"', ['Appointment.status']);
  }
  const stored = instantsInOneForm(storedAsIs, 'Appointment');
  const submitted = instantsInOneForm(submittedAsIs, 'Appointment');
  for (const element of COMPARED_ELEMENTS) {
    const theirs = element === 'participant' ? participantsAsStored(stored.participant, submitted.participant) : submitted[element];
    if (!sameValue(stored[element], theirs)) {
      return problems.cancelChangesOtherFields(`Appointment.${element} differs from the stored appointment; only status may change on cancel`, [`Appointment.${element}`]);
    }
  }
  const otherExtensions = (r: JsonObject) => asArray(r.extension).filter((e) => !(isObject(e) && e.url === EXTENSIONS.cancellationReason));
  if (!sameValue(otherExtensions(stored), otherExtensions(submitted))) {
    return problems.cancelChangesOtherFields('Appointment.extension differs from the stored appointment (only the cancellation reason may be added)', ['Appointment.extension']);
  }

  const storedContained = containedByType(stored, localPatientIdSystem);
  const submittedContained = containedByType(submitted, localPatientIdSystem);
  const types = new Set([...storedContained.keys(), ...submittedContained.keys()]);
  for (const type of types) {
    if (!sameValue(storedContained.get(type), submittedContained.get(type))) {
      return problems.cancelChangesOtherFields(`The contained ${type} differs from the stored appointment; only status may change on cancel`, [`Appointment.contained.${type}`]);
    }
  }
  return undefined;
}

/** The next version: the stored resource, status cancelled, with the consumer's cancellation reason. */
export function cancelledAppointment(stored: JsonObject, submitted: JsonObject, stamp: VersionStamp): JsonObject {
  const reason = asArray(submitted.extension).find((e) => isObject(e) && e.url === EXTENSIONS.cancellationReason);
  const extensions = asArray(stored.extension).filter((e) => !(isObject(e) && e.url === EXTENSIONS.cancellationReason));
  if (reason) extensions.push(reason);
  const meta = isObject(stored.meta) ? stored.meta : {};
  return {
    ...stored,
    id: stamp.id,
    meta: { ...meta, versionId: stamp.versionId, lastUpdated: stamp.lastUpdated },
    ...(extensions.length ? { extension: extensions as JsonObject[] } : {}),
    status: 'cancelled',
  };
}

/**
 * The harness re-sends the participant's NHS number even when the booking had none (spec §11.2):
 * an actor identifier the stored participant lacks is not a change.
 */
function participantsAsStored(stored: unknown, submitted: unknown): unknown {
  const storedList = asArray(stored);
  return asArray(submitted).map((p, i) => {
    const mine = storedList[i];
    if (!isObject(p) || !isObject(p.actor) || !isObject(mine) || !isObject(mine.actor) || mine.actor.identifier !== undefined) return p;
    const { identifier: _added, ...actor } = p.actor;
    return { ...p, actor };
  });
}

function containedByType(resource: JsonObject, localPatientIdSystem: string): Map<string, JsonObject> {
  const byType = new Map<string, JsonObject>();
  for (const r of asArray(resource.contained)) {
    if (!isObject(r) || typeof r.resourceType !== 'string') continue;
    const copy = Object.fromEntries(Object.entries(instantsInOneForm(r)).filter(([k]) => !IGNORED_CONTAINED.includes(k))) as JsonObject;
    if (r.resourceType === 'Patient') {
      const identifiers = asArray(r.identifier).filter((i) => !(isObject(i) && i.system === localPatientIdSystem));
      if (identifiers.length) copy.identifier = identifiers as JsonObject[];
      else delete copy.identifier;
    }
    byType.set(r.resourceType, copy);
  }
  return byType;
}

/**
 * The resource with each of its own elements of FHIR type instant (per its STU3 definition) that
 * holds a valid instant written in one form, UTC to the millisecond (`2026-12-03T08:00:00.000Z`
 * for `2026-12-03T09:00:00+01:00`), so the same point in time compares equal. Other values as they are.
 */
function instantsInOneForm(resource: JsonObject, type = String(resource.resourceType)): JsonObject {
  const instants = (propertiesOfType(type) ?? []).filter((p) => p._type === 'instant');
  const copy = { ...resource };
  for (const { _name: name } of instants) {
    const value = copy[name];
    if (isInstant(value)) copy[name] = new Date(Date.parse(value)).toISOString();
  }
  return copy;
}

/** Deep equality that ignores object key order (JSON and XML round trips reorder keys). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return isEmpty(a) && isEmpty(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameValue(a[k], b[k]));
  }
  // Numbers may arrive as strings from XML and vice versa; compare by their text.
  return (typeof a === 'number' || typeof b === 'number') && String(a) === String(b);
}

function isEmpty(v: unknown): boolean {
  return v === undefined || (Array.isArray(v) && v.length === 0);
}
