import { isValidNhsNumber } from './nhs-number.js';
import { type Problem, problems } from './operation-outcome.js';
import { asArray, EXTENSIONS, isObject, type JsonObject, NHS_NUMBER_VERIFICATION_STATUSES, SYSTEMS } from './types.js';
import { validateResource } from './validation/index.js';

/**
 * The Booking API's rules for a new Appointment (spec §9.1, §15, fs_patientcontact), as one
 * ordered table (BOOKING_RULES). Not an Appointment or broken contact ranks → 400; FHIR, profile
 * and Booking Standard rules → 422.
 */

export interface BookingPatient {
  nhsNumber?: string;
  nhsNumberStatus?: string;
  title?: string;
  given?: string;
  family: string;
  gender: 'male' | 'female' | 'other' | 'unknown';
  birthDate: string;
  addressLines: string[];
  postalCode?: string;
  phone?: string;
}

/** What the PAS needs from a valid booking request. */
export interface BookingDetails {
  slotId: string;
  slotGuid?: string;
  start: string;
  end: string;
  description: string;
  patient: BookingPatient;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: Problem };

const INSTANT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const DATE_TIME = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$/;
const GENDERS = ['male', 'female', 'other', 'unknown'] as const;
const SLOT_STATUSES = ['free', 'busy', 'busy-unavailable', 'busy-tentative', 'entered-in-error'];

export function isInstant(value: unknown): value is string {
  return typeof value === 'string' && INSTANT.test(value) && !Number.isNaN(Date.parse(value));
}

class Invalid extends Error {
  constructor(readonly problem: Problem) {
    super(problem.diagnostics);
  }
}

const fail = (p: Problem): never => {
  throw new Invalid(p);
};
const invalid = (diagnostics: string, location: string) => fail(problems.invalidResource(diagnostics, [location]));

function str(obj: JsonObject, key: string, path: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.trim() === '') return invalid(`${path}.${key} is required`, `${path}.${key}`);
  return v;
}

function localRef(value: unknown, path: string): string {
  const ref = isObject(value) ? value.reference : undefined;
  if (typeof ref !== 'string' || !ref.startsWith('#') || ref.length < 2) return invalid(`${path} must reference a contained resource ("#id")`, path);
  return ref.slice(1);
}

/** What the rules share: the body and, once found, its parts. */
interface Booking {
  body: JsonObject;
  slot: JsonObject;
  patient: JsonObject;
  documentReference?: JsonObject;
  byId: Map<string, JsonObject>;
}

/** One Booking Standard rule: the status it answers with when broken (the harness's order, §18). */
interface BookingRule {
  rule: string;
  status: 400 | 422;
  /** The FHIR layer (validation/): skipped when the body has already passed it. */
  fhir?: true;
  /** Throws Invalid (via fail/invalid) when broken; `booking` is filled in by the "contained" rule. */
  check: (body: JsonObject, booking: Partial<Booking>) => void;
}

/**
 * The rules for a new booking, in the order they are applied: the first broken rule answers.
 * 400s (not a booking at all; contact ranks, which the harness treats as structural) come before
 * 422s; the FHIR base definitions and the CareConnect profiles (validation/) come before the
 * Booking Standard's own narrower rules, so a body is judged as FHIR before it is judged as a booking.
 */
export const BOOKING_RULES: readonly BookingRule[] = [
  {
    rule: 'the body is an Appointment',
    status: 400,
    check: (body) => {
      if (body.resourceType !== 'Appointment') fail(problems.badRequest(`Expected resourceType Appointment, got ${JSON.stringify(body.resourceType ?? null)}`, ['Appointment.resourceType']));
      if (body.contained !== undefined && !Array.isArray(body.contained)) fail(problems.badRequest('Appointment.contained must be an array', ['Appointment.contained']));
    },
  },
  {
    rule: 'fs_patientcontact: every contact point ranked, rank 1 exactly once',
    status: 400,
    check: (body) => {
      const patient = asArray(body.contained).find((r) => isObject(r) && r.resourceType === 'Patient');
      if (isObject(patient)) checkContactRanks(patient);
    },
  },
  {
    rule: 'valid to the FHIR STU3 base definitions and the CareConnect profiles',
    status: 422,
    fhir: true,
    check: (body) => {
      const problem = validateResource(body);
      if (problem) fail(problem);
    },
  },
  {
    rule: 'no id: the provider assigns it',
    status: 422,
    check: (body) => {
      if (body.id !== undefined) fail(problems.invalidResource('Appointment.id must not be sent: the provider assigns it', ['Appointment.id']));
    },
  },
  {
    rule: 'status booked, start before end (instants), a description',
    status: 422,
    check: (body) => {
      if (body.status !== 'booked') invalid('Appointment.status must be "booked" for a new booking', 'Appointment.status');
      if (!isInstant(body.start)) invalid('Appointment.start must be a FHIR instant', 'Appointment.start');
      if (!isInstant(body.end)) invalid('Appointment.end must be a FHIR instant', 'Appointment.end');
      if (Date.parse(body.end as string) <= Date.parse(body.start as string)) invalid('Appointment.end must be after Appointment.start', 'Appointment.end');
      str(body, 'description', 'Appointment');
      if (body.created !== undefined && (typeof body.created !== 'string' || !DATE_TIME.test(body.created))) invalid('Appointment.created must be a FHIR dateTime', 'Appointment.created');
    },
  },
  {
    rule: 'contained: one Patient, one Slot, and (if available) one DocumentReference, ids unique',
    status: 422,
    check: (body, booking) => {
      const resources = asArray(body.contained);
      const byId = new Map<string, JsonObject>();
      const byType = new Map<string, JsonObject>();
      for (const [i, r] of resources.entries()) {
        if (!isObject(r) || typeof r.resourceType !== 'string') return invalid('each contained entry must be a resource', `Appointment.contained[${i}]`);
        if (typeof r.id !== 'string' || r.id === '') return invalid('each contained resource needs an id', `Appointment.contained[${i}].id`);
        if (byId.has(r.id)) return invalid(`contained id "${r.id}" is used twice`, `Appointment.contained[${i}].id`);
        if (byType.has(r.resourceType)) return invalid(`only one contained ${r.resourceType} is allowed`, `Appointment.contained[${i}]`);
        if (!['Patient', 'Slot', 'DocumentReference'].includes(r.resourceType)) return invalid(`a contained ${r.resourceType} is not part of a booking`, `Appointment.contained[${i}]`);
        byId.set(r.id, r);
        byType.set(r.resourceType, r);
      }
      const slot = byType.get('Slot');
      const patient = byType.get('Patient');
      if (!slot || !patient) return invalid('Appointment.contained must hold one Patient and one Slot (and, if available, one DocumentReference)', 'Appointment.contained');
      Object.assign(booking, { slot, patient, byId, ...(byType.has('DocumentReference') ? { documentReference: byType.get('DocumentReference') } : {}) });
    },
  },
  {
    rule: 'slot references the contained Slot',
    status: 422,
    check: (body, { slot, byId }) => {
      const slotRefs = asArray(body.slot);
      if (slotRefs.length !== 1) return invalid('Appointment.slot must hold exactly one reference', 'Appointment.slot');
      if (byId?.get(localRef(slotRefs[0], 'Appointment.slot[0]')) !== slot) invalid('Appointment.slot must reference the contained Slot', 'Appointment.slot[0]');
    },
  },
  {
    rule: 'supportingInformation, when sent, references the contained DocumentReference (SHOULD, "if available")',
    status: 422,
    check: (body, { documentReference, byId }) => {
      const support = asArray(body.supportingInformation);
      if (support.length === 0 && !documentReference) return;
      if (support.length !== 1) return invalid('Appointment.supportingInformation must hold exactly one reference, to the contained DocumentReference', 'Appointment.supportingInformation');
      const target = byId?.get(localRef(support[0], 'Appointment.supportingInformation[0]'));
      if (!documentReference || target !== documentReference) invalid('Appointment.supportingInformation must reference the contained DocumentReference', 'Appointment.supportingInformation[0]');
    },
  },
  {
    rule: 'exactly one participant is the contained Patient; its NHS number is valid',
    status: 422,
    check: (body, { patient, byId }) => {
      const participants = asArray(body.participant);
      if (participants.length === 0) return invalid('Appointment.participant is required', 'Appointment.participant');
      let patientParticipants = 0;
      for (const [i, p] of participants.entries()) {
        const at = `Appointment.participant[${i}]`;
        if (!isObject(p)) return invalid('participant must be an object', at);
        const ref = isObject(p.actor) ? p.actor.reference : undefined;
        if (typeof ref === 'string' && ref.startsWith('#')) {
          if (byId?.get(ref.slice(1)) !== patient) return invalid('participant.actor must reference the contained Patient', `${at}.actor`);
          patientParticipants++;
          const identifier = isObject(p.actor) ? p.actor.identifier : undefined;
          if (isObject(identifier) && identifier.system === SYSTEMS.nhsNumber && typeof identifier.value === 'string' && !isValidNhsNumber(identifier.value)) {
            fail(problems.invalidNhsNumber('participant.actor.identifier is not a valid NHS number', [`${at}.actor.identifier`]));
          }
        }
      }
      if (patientParticipants !== 1) invalid('exactly one participant must reference the contained Patient', 'Appointment.participant');
    },
  },
  { rule: 'the contained DocumentReference (§9.1)', status: 422, check: (_, { documentReference }) => documentReference && checkDocumentReference(documentReference) },
  { rule: 'the contained Slot (§9.1)', status: 422, check: (_, { slot }) => void (slot && checkSlot(slot)) },
  { rule: 'the contained Patient (§9.1)', status: 422, check: (_, { patient }) => void (patient && checkPatient(patient)) },
  {
    // The PAS files and finds the patient by the Patient's number, while reads echo the participant's:
    // two numbers would be two patients. One alone is fine (the harness sends the participant's only, §19 #12).
    rule: 'the participant\u2019s NHS number, when both are sent, is the contained Patient\u2019s',
    status: 422,
    check: (body, { patient }) => {
      const patientNumber = nhsNumberOf(asArray(patient?.identifier)[0]);
      if (patientNumber === undefined) return;
      for (const [i, p] of asArray(body.participant).entries()) {
        const actor = isObject(p) && isObject(p.actor) ? p.actor : undefined;
        if (actor?.reference !== `#${patient?.id}`) continue;
        const participantNumber = nhsNumberOf(actor.identifier);
        if (participantNumber === undefined || participantNumber === patientNumber) continue;
        // The numbers themselves stay out of the diagnostics, as in every NHS number problem here.
        const [theirs, ours] = [`Appointment.participant[${i}].actor.identifier.value`, `Appointment.contained[${asArray(body.contained).indexOf(patient)}].identifier[0].value`];
        fail(problems.invalidResource(`${theirs} is not the NHS number of the contained Patient (${ours}): both must be the same patient's`, [theirs, ours]));
      }
    },
  },
];

/** The value of an NHS number identifier, or undefined for anything else. */
function nhsNumberOf(identifier: unknown): string | undefined {
  return isObject(identifier) && identifier.system === SYSTEMS.nhsNumber && typeof identifier.value === 'string' ? identifier.value : undefined;
}

/**
 * Checks a parsed request body against BOOKING_RULES in order; never throws. `fhirValidated`: the
 * body already passed the FHIR layer (the worker, given a job the facade checked, skips it).
 */
export function checkBookingRequest(body: unknown, options: { fhirValidated?: boolean } = {}): Checked<BookingDetails> {
  if (!isObject(body)) return { ok: false, problem: problems.badRequest('The request body must be a FHIR Appointment resource') };
  const booking: Partial<Booking> = {};
  try {
    for (const { check, fhir } of BOOKING_RULES) if (!(fhir && options.fhirValidated)) check(body, booking);
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, problem: error.problem };
    throw error;
  }
  const { slot, patient } = booking as Booking;
  return { ok: true, value: { ...checkSlot(slot), start: body.start as string, end: body.end as string, description: body.description as string, patient: checkPatient(patient) } };
}

function checkDocumentReference(doc: JsonObject): void {
  const at = 'Appointment.contained.DocumentReference';
  const identifiers = asArray(doc.identifier);
  if (!identifiers.some((i) => isObject(i) && i.system === SYSTEMS.rfc4122 && typeof i.value === 'string' && i.value !== '')) {
    invalid(`DocumentReference.identifier with system ${SYSTEMS.rfc4122} is required`, `${at}.identifier`);
  }
  if (doc.status !== 'current') invalid('DocumentReference.status must be "current"', `${at}.status`);
  const type = doc.type;
  if (!isObject(type) || !asArray(type.coding).some((c) => isObject(c) && typeof c.code === 'string' && typeof c.system === 'string')) {
    invalid('DocumentReference.type.coding is required', `${at}.type`);
  }
  const content = asArray(doc.content);
  if (content.length === 0) invalid('DocumentReference.content is required', `${at}.content`);
  content.forEach((c, i) => {
    const attachment = isObject(c) ? c.attachment : undefined;
    if (!isObject(attachment) || typeof attachment.contentType !== 'string' || !/^[\w.+-]+\/[\w.+-]+/.test(attachment.contentType)) {
      invalid('DocumentReference.content.attachment.contentType must be a MIME type', `${at}.content[${i}].attachment.contentType`);
    }
  });
}

function checkSlot(slot: JsonObject): { slotId: string; slotGuid?: string } {
  const at = 'Appointment.contained.Slot';
  const identifiers = asArray(slot.identifier);
  if (identifiers.length === 0 || !identifiers.every((i) => isObject(i) && typeof i.value === 'string' && i.value !== '')) {
    invalid('Slot.identifier is required', `${at}.identifier`);
  }
  if (typeof slot.status !== 'string' || !SLOT_STATUSES.includes(slot.status)) invalid('Slot.status is required', `${at}.status`);
  if (!isInstant(slot.start)) invalid('Slot.start must be a FHIR instant', `${at}.start`);
  if (!isInstant(slot.end)) invalid('Slot.end must be a FHIR instant', `${at}.end`);
  const schedule = isObject(slot.schedule) ? slot.schedule.reference : undefined;
  if (typeof schedule !== 'string' || !/^(.*\/)?Schedule\/[A-Za-z0-9\-.]{1,64}$/.test(schedule)) invalid('Slot.schedule must reference a Schedule', `${at}.schedule`);
  const guid = identifiers
    .filter(isObject)
    .find((i) => i.system === SYSTEMS.rfc4122 || typeof i.system !== 'string')?.value;
  return { slotId: String(slot.id), ...(typeof guid === 'string' ? { slotGuid: guid } : {}) };
}

function checkPatient(patient: JsonObject): BookingPatient {
  const at = 'Appointment.contained.Patient';
  const identifiers = asArray(patient.identifier);
  if (identifiers.length > 1) invalid('Patient.identifier may only hold the NHS number', `${at}.identifier`);
  let nhsNumber: string | undefined;
  let nhsNumberStatus: string | undefined;
  const identifier = identifiers[0];
  if (identifier !== undefined) {
    if (!isObject(identifier) || identifier.system !== SYSTEMS.nhsNumber) invalid(`Patient.identifier must use system ${SYSTEMS.nhsNumber}`, `${at}.identifier[0].system`);
    const value = (identifier as JsonObject).value;
    if (typeof value !== 'string' || !isValidNhsNumber(value)) fail(problems.invalidNhsNumber('Patient.identifier is not a valid NHS number', [`${at}.identifier[0].value`]));
    nhsNumber = value as string;
    const status = asArray((identifier as JsonObject).extension).find((e) => isObject(e) && e.url === EXTENSIONS.nhsNumberVerificationStatus);
    const coding = isObject(status) && isObject(status.valueCodeableConcept) ? asArray(status.valueCodeableConcept.coding)[0] : undefined;
    if (!isObject(coding) || typeof coding.code !== 'string' || !Object.hasOwn(NHS_NUMBER_VERIFICATION_STATUSES, coding.code)) {
      invalid('the NHS number needs the NHSNumberVerificationStatus extension with a code 01-08', `${at}.identifier[0].extension`);
    }
    nhsNumberStatus = (coding as JsonObject).code as string;
  }

  const names = asArray(patient.name);
  const name = names.find((n) => isObject(n) && n.use === 'official') ?? names[0];
  if (!isObject(name) || typeof name.family !== 'string' || name.family.trim() === '') invalid('Patient.name with a family name is required', `${at}.name`);
  const officialName = name as JsonObject;
  if (!GENDERS.includes(patient.gender as (typeof GENDERS)[number])) invalid('Patient.gender must be male, female, other or unknown', `${at}.gender`);
  if (typeof patient.birthDate !== 'string' || !DATE.test(patient.birthDate)) invalid('Patient.birthDate must be a full date (YYYY-MM-DD)', `${at}.birthDate`);
  checkBirthDate(patient.birthDate as string, `${at}.birthDate`);
  const addresses = asArray(patient.address);
  const address = addresses.find((a) => isObject(a) && a.use === 'home') ?? addresses[0];
  if (!isObject(address)) invalid('Patient.address is required', `${at}.address`);
  const addr = address as JsonObject;
  const lines = asArray(addr.line).filter((l): l is string => typeof l === 'string');
  if (lines.length === 0 && typeof addr.postalCode !== 'string' && typeof addr.text !== 'string') invalid('Patient.address needs lines, a postcode or text', `${at}.address`);

  const phone = asArray(patient.telecom).find((t) => isObject(t) && t.system === 'phone' && t.rank === 1) as JsonObject | undefined;
  const given = asArray(officialName.given).filter((g): g is string => typeof g === 'string');
  const prefix = asArray(officialName.prefix).filter((p): p is string => typeof p === 'string');
  const city = typeof addr.city === 'string' ? [addr.city] : [];
  return {
    ...(nhsNumber ? { nhsNumber, nhsNumberStatus } : {}),
    ...(prefix[0] ? { title: prefix[0] } : {}),
    ...(given.length ? { given: given.join(' ') } : {}),
    family: officialName.family as string,
    gender: patient.gender as BookingPatient['gender'],
    birthDate: patient.birthDate as string,
    addressLines: [...lines, ...city],
    ...(typeof addr.postalCode === 'string' ? { postalCode: addr.postalCode } : {}),
    ...(phone && typeof phone.value === 'string' ? { phone: phone.value } : {}),
  };
}

/**
 * The earliest birth date a PAS can store: SQL Server's DATETIME (PATIENT.DOB) starts on
 * 1753-01-01. An earlier one (a typo: 0197 for 1970) would fail the booking in the PAS on every
 * retry; refused here instead, naming the element.
 */
export const EARLIEST_BIRTH_DATE = '1753-01-01';

/** A birth date the PAS can hold and that is not in the future (later than today anywhere on earth, UTC+14). */
function checkBirthDate(birthDate: string, location: string): void {
  if (birthDate < EARLIEST_BIRTH_DATE) invalid(`Patient.birthDate ${birthDate} is before ${EARLIEST_BIRTH_DATE}, the earliest date the PAS can record`, location);
  const latestToday = new Date(Date.now() + 14 * 3600_000).toISOString().slice(0, 10);
  if (birthDate > latestToday) invalid(`Patient.birthDate ${birthDate} is in the future`, location);
}

/** fs_patientcontact: every contact point ranked, rank 1 exactly once across patient and contacts. */
function checkContactRanks(patient: JsonObject): void {
  const points: { path: string; point: unknown }[] = [];
  for (const [i, point] of asArray(patient.telecom).entries()) points.push({ path: `Patient.telecom[${i}]`, point });
  for (const [c, contact] of asArray(patient.contact).entries()) {
    if (!isObject(contact)) continue;
    for (const [i, point] of asArray(contact.telecom).entries()) points.push({ path: `Patient.contact[${c}].telecom[${i}]`, point });
  }
  if (points.length === 0) fail(problems.badRequest('At least one contact point (Patient.telecom or Patient.contact.telecom) is required', ['Patient.telecom']));
  for (const { path, point } of points) {
    const rank = isObject(point) ? point.rank : undefined;
    if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1) fail(problems.badRequest(`${path}.rank must be a positive integer`, [`${path}.rank`]));
  }
  const primaries = points.filter(({ point }) => (point as JsonObject).rank === 1);
  if (primaries.length !== 1) {
    fail(problems.badRequest(`Exactly one contact point must have rank 1 (found ${primaries.length})`, primaries.map((p) => `${p.path}.rank`)));
  }
}
