import { type Checked, isValidNhsNumber, problems, SYSTEMS } from '@booking/fhir';

export interface AppointmentSearch {
  nhsNumber?: string;
  appointmentId?: string;
}

const APPOINTMENT_ID = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * GET /Appointment query (spec §12): `identifier` (the NHS number, plain or
 * `https://fhir.nhs.uk/Id/nhs-number|value`), `_id`, and `version` (accepted, one version served).
 * Other `_`-prefixed controls are ignored; anything else is 400, as for /Slot.
 */
export function parseAppointmentSearch(query: Iterable<[string, string]>): Checked<AppointmentSearch> {
  const search: AppointmentSearch = {};
  const bad = (diagnostics: string, parameter: string) => ({ ok: false as const, problem: problems.invalidParameter(diagnostics, [parameter]) });
  for (const [name, value] of query) {
    if (name === 'identifier' || name === 'patient.identifier') {
      const bar = value.lastIndexOf('|');
      const [system, nhsNumber] = bar >= 0 ? [value.slice(0, bar), value.slice(bar + 1)] : [SYSTEMS.nhsNumber, value];
      if (system !== SYSTEMS.nhsNumber) return bad(`identifier must use the system ${SYSTEMS.nhsNumber}`, name);
      if (!isValidNhsNumber(nhsNumber)) return bad('identifier is not a valid NHS number', name);
      if (search.nhsNumber !== undefined && search.nhsNumber !== nhsNumber) return bad('identifier given twice with different values', name);
      search.nhsNumber = nhsNumber;
    } else if (name === '_id') {
      if (!APPOINTMENT_ID.test(value)) return bad('_id is not a FHIR id', name);
      search.appointmentId = value;
    } else if (name !== 'version' && !name.startsWith('_')) {
      return bad(`Unknown search parameter "${name}"`, name);
    }
  }
  if (search.nhsNumber === undefined && search.appointmentId === undefined) {
    return bad('An Appointment search needs identifier (the NHS number) or _id', 'identifier');
  }
  return { ok: true, value: search };
}
