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
