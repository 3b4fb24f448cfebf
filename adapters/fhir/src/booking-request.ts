import { isValidNhsNumber } from './nhs-number.js';
import { type Problem, problems } from './operation-outcome.js';
import { asArray, EXTENSIONS, isObject, type JsonObject, SYSTEMS } from './types.js';

/**
 * The Booking API's rules for a new Appointment (spec §9.1, §15, fs_patientcontact).
 * Structural breakage and contact-rank rules → 400; profile and business rules → 422.
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

/** Checks a parsed request body; never throws. */
export function checkBookingRequest(body: unknown): Checked<BookingDetails> {
  try {
    return { ok: true, value: check(body) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, problem: error.problem };
    throw error;
  }
}

function check(body: unknown): BookingDetails {
  if (!isObject(body)) return fail(problems.badRequest('The request body must be a FHIR Appointment resource'));
  if (body.resourceType !== 'Appointment') return fail(problems.badRequest(`Expected resourceType Appointment, got ${JSON.stringify(body.resourceType ?? null)}`, ['Appointment.resourceType']));

  const contained = body.contained;
  if (contained !== undefined && !Array.isArray(contained)) return fail(problems.badRequest('Appointment.contained must be an array', ['Appointment.contained']));
  const patient = asArray(contained).find((r) => isObject(r) && r.resourceType === 'Patient');
  // Contact rules are structural in the Booking Standard (harness expects 400), so check them first.
  if (isObject(patient)) checkContactRanks(patient);

  if (body.id !== undefined) return fail(problems.invalidResource('Appointment.id must not be sent: the provider assigns it', ['Appointment.id']));
  if (body.status !== 'booked') return invalid('Appointment.status must be "booked" for a new booking', 'Appointment.status');
  if (!isInstant(body.start)) return invalid('Appointment.start must be a FHIR instant', 'Appointment.start');
  if (!isInstant(body.end)) return invalid('Appointment.end must be a FHIR instant', 'Appointment.end');
  if (Date.parse(body.end) <= Date.parse(body.start)) return invalid('Appointment.end must be after Appointment.start', 'Appointment.end');
  const description = str(body, 'description', 'Appointment');
  if (body.created !== undefined && (typeof body.created !== 'string' || !DATE_TIME.test(body.created))) return invalid('Appointment.created must be a FHIR dateTime', 'Appointment.created');

  const resources = asArray(contained);
  if (resources.length !== 3) return invalid('Appointment.contained must hold exactly three resources: DocumentReference, Patient and Slot', 'Appointment.contained');
  const byId = new Map<string, JsonObject>();
  const byType = new Map<string, JsonObject>();
  for (const [i, r] of resources.entries()) {
    if (!isObject(r) || typeof r.resourceType !== 'string') return invalid('each contained entry must be a resource', `Appointment.contained[${i}]`);
    if (typeof r.id !== 'string' || r.id === '') return invalid('each contained resource needs an id', `Appointment.contained[${i}].id`);
    if (byId.has(r.id)) return invalid(`contained id "${r.id}" is used twice`, `Appointment.contained[${i}].id`);
    if (byType.has(r.resourceType)) return invalid(`only one contained ${r.resourceType} is allowed`, `Appointment.contained[${i}]`);
    byId.set(r.id, r);
    byType.set(r.resourceType, r);
  }
  const slot = byType.get('Slot');
  const documentReference = byType.get('DocumentReference');
  const containedPatient = byType.get('Patient');
  if (!slot || !documentReference || !containedPatient) return invalid('Appointment.contained must hold one DocumentReference, one Patient and one Slot', 'Appointment.contained');

  const slotRefs = asArray(body.slot);
  if (slotRefs.length !== 1) return invalid('Appointment.slot must hold exactly one reference', 'Appointment.slot');
  if (byId.get(localRef(slotRefs[0], 'Appointment.slot[0]')) !== slot) return invalid('Appointment.slot must reference the contained Slot', 'Appointment.slot[0]');

  const support = asArray(body.supportingInformation);
  if (support.length !== 1) return invalid('Appointment.supportingInformation must hold exactly one reference', 'Appointment.supportingInformation');
  if (byId.get(localRef(support[0], 'Appointment.supportingInformation[0]')) !== documentReference) return invalid('Appointment.supportingInformation must reference the contained DocumentReference', 'Appointment.supportingInformation[0]');

  const participants = asArray(body.participant);
  if (participants.length === 0) return invalid('Appointment.participant is required', 'Appointment.participant');
  let patientParticipants = 0;
  for (const [i, p] of participants.entries()) {
    const at = `Appointment.participant[${i}]`;
    if (!isObject(p)) return invalid('participant must be an object', at);
    if (!['accepted', 'declined', 'tentative', 'needs-action'].includes(String(p.status))) return invalid('participant.status must be accepted, declined, tentative or needs-action', `${at}.status`);
    const ref = isObject(p.actor) ? p.actor.reference : undefined;
    if (typeof ref === 'string' && ref.startsWith('#')) {
      if (byId.get(ref.slice(1)) !== containedPatient) return invalid('participant.actor must reference the contained Patient', `${at}.actor`);
      patientParticipants++;
      const identifier = isObject(p.actor) ? p.actor.identifier : undefined;
      if (isObject(identifier) && identifier.system === SYSTEMS.nhsNumber && typeof identifier.value === 'string' && !isValidNhsNumber(identifier.value)) {
        fail(problems.invalidNhsNumber('participant.actor.identifier is not a valid NHS number', [`${at}.actor.identifier`]));
      }
    }
  }
  if (patientParticipants !== 1) return invalid('exactly one participant must reference the contained Patient', 'Appointment.participant');

  checkDocumentReference(documentReference);
  const slotDetails = checkSlot(slot);
  const patientDetails = checkPatient(containedPatient);
  return { ...slotDetails, start: body.start, end: body.end, description, patient: patientDetails };
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
  if (!['free', 'busy', 'busy-unavailable', 'busy-tentative', 'entered-in-error'].includes(String(slot.status))) invalid('Slot.status is required', `${at}.status`);
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
    if (!isObject(coding) || typeof coding.code !== 'string' || !/^(0[1-8])$/.test(coding.code)) {
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
