import { asArray, isObject, type JsonObject, PROFILES, SYSTEMS } from './types.js';

/** Server-owned parts of a stored Appointment version. */
export interface VersionStamp {
  id: string;
  versionId: string;
  lastUpdated: string;
}

/**
 * Version 1 of a booked Appointment: the consumer's resource with the server's id, meta and
 * `created` (spec §19 #11), `language` defaulting to en-GB, and — when no NHS number was sent —
 * the PAS's local patient identifier on the contained Patient (spec §9.2, §19 #12).
 */
export function bookedAppointment(
  submitted: JsonObject,
  stamp: VersionStamp,
  localPatient: { system: string; value: string } | undefined,
): JsonObject {
  const { id: _ignoredId, meta: _ignoredMeta, ...rest } = submitted;
  const contained = asArray(rest.contained).map((r) => {
    if (!isObject(r) || r.resourceType !== 'Patient' || !localPatient) return r;
    const hasNhsNumber = asArray(r.identifier).some((i) => isObject(i) && i.system === SYSTEMS.nhsNumber);
    return hasNhsNumber ? r : { ...r, identifier: [{ system: localPatient.system, value: localPatient.value }] };
  });
  return {
    resourceType: 'Appointment',
    id: stamp.id,
    meta: { versionId: stamp.versionId, lastUpdated: stamp.lastUpdated, profile: [PROFILES.Appointment] },
    language: typeof rest.language === 'string' ? rest.language : 'en-GB',
    ...withoutKeys(rest, ['resourceType', 'language', 'contained', 'created']),
    contained,
    created: stamp.lastUpdated,
  } as JsonObject;
}

function withoutKeys(obj: JsonObject, keys: string[]): JsonObject {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k))) as JsonObject;
}

/** The tag FHIR puts on a resource that is a subset of the stored one (STU3 search.html#summary). */
export const SUBSETTED_TAG = { system: 'http://hl7.org/fhir/v3/ObservationValue', code: 'SUBSETTED', display: 'subsetted' } as const;

/**
 * What the Appointment search (spec §12) shows of an appointment: "limited content", i.e. id,
 * version, status, start, end, created and one participant, the patient, named by identifier only
 * (the NHS number; else the PAS's local patient identifier; else "Patient not identified"). Any
 * organisation with the read scope may search by NHS number, so no demographics, description, reason, contained DocumentReference,
 * Slot or other participants: a read by id returns the whole resource. Tagged SUBSETTED so that
 * nobody takes it for the whole resource (or PUTs it back).
 */
export function appointmentSearchSummary(appointment: JsonObject): JsonObject {
  const meta = isObject(appointment.meta) ? appointment.meta : {};
  const patient = asArray(appointment.contained).find((r): r is JsonObject => isObject(r) && r.resourceType === 'Patient');
  const isPatient = (p: unknown): p is JsonObject =>
    isObject(p) && isObject(p.actor) && ((patient?.id !== undefined && p.actor.reference === `#${String(patient.id)}`) || (isObject(p.actor.identifier) && p.actor.identifier.system === SYSTEMS.nhsNumber));
  const participant = asArray(appointment.participant).find(isPatient);
  const identifiers = [...asArray(patient?.identifier), ...(isObject(participant?.actor) ? [participant.actor.identifier] : [])].filter(isObject);
  const identifier = identifiers.find((i) => i.system === SYSTEMS.nhsNumber) ?? identifiers[0];
  return {
    resourceType: 'Appointment',
    id: appointment.id,
    meta: { ...pick(meta, ['versionId', 'lastUpdated', 'profile']), tag: [{ ...SUBSETTED_TAG }] },
    ...pick(appointment, ['status', 'start', 'end', 'created']),
    // Always the patient participant (participant 1..*): with no identifier left in the PAS (NHS
    // number cleared, no local number), a display that says so and names nobody (app-1: type or
    // actor). Every booking the facade takes has a patient participant; 'accepted' is for one it did not make.
    participant: [{ actor: identifier ? { identifier: pick(identifier, ['system', 'value']) } : { display: UNIDENTIFIED_PATIENT }, status: participant?.status ?? 'accepted' }],
  } as JsonObject;
}

/** The search summary's patient when the PAS holds no identifier for them: never their name. */
export const UNIDENTIFIED_PATIENT = 'Patient not identified';

function pick(obj: JsonObject, keys: string[]): JsonObject {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]])) as JsonObject;
}
