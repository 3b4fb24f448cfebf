import { EXTENSIONS, NHS_NUMBER_VERIFICATION_STATUSES, SYSTEMS } from '@booking/fhir/types';
import { type AppointmentStatus, legacyStatus, type StatusMapping } from '../appointment-status.js';
import { genderFromSex } from '../legacy-codes.js';
import type { LocalClock } from '../local-time.js';
import type { PasChangeKind } from '../port.js';

/**
 * Composes the Appointment as the PAS rows say it is now: status, start, end, slot and patient
 * link come from the legacy APPOINTMENT, CLINIC_SLOT and PATIENT rows; everything the PAS cannot
 * hold (contained DocumentReference, description, the consumer's participant details, language…)
 * from the product's current stored version.
 */

const NHS_NUMBER_SYSTEM = SYSTEMS.nhsNumber;
const CANCELLATION_REASON_URL = EXTENSIONS.cancellationReason;
const CANCELLED_BY_TEXT = { patient: 'Cancelled by the patient', hospital: 'Cancelled by the hospital' } as const;
const OUR_REASONS: readonly unknown[] = Object.values(CANCELLED_BY_TEXT);
/** FHIR STU3 Appointment.status for an appointment that should never have existed (the PAS deleted it). */
export const ENTERED_IN_ERROR = 'entered-in-error';
/** Product statuses after which nothing the PAS does is followed any more. */
export const FINAL_STATUSES: readonly string[] = ['cancelled', 'fulfilled', 'noshow', ENTERED_IN_ERROR];

/** The product's current version with the legacy rows it points at (legacy columns null when the row is gone). */
export interface ComposeRow {
  APPOINTMENT_ID: string;
  PAS_APPT_ID: number;
  /** The slot the product last recorded for the appointment. */
  STORED_SLOT_ID: number;
  CURRENT_VERSION: number;
  STORED_STATUS: string;
  LAST_UPDATED_UTC: string | Date;
  RESOURCE_JSON: string;
  APPT_STATUS: string | null;
  SLOT_ID: number | null;
  PATIENT_ID: number | null;
  START_DTTM: string | Date | null;
  END_DTTM: string | Date | null;
  SLOT_GUID: string | null;
  SLOT_START: string | Date | null;
  SLOT_END: string | Date | null;
  CLINIC_CODE: string | null;
  /** The PAS patient the current version was composed for (null: recorded before the product kept it). */
  STORED_PATIENT_ID?: number | null;
  HOSP_NO: string | null;
  NHS_NO: string | null;
  /** The PATIENT row's demographics: the contained Patient when the appointment was relinked. */
  NHS_NO_STATUS?: string | null;
  TITLE?: string | null;
  FORENAMES?: string | null;
  SURNAME?: string | null;
  SEX?: string | null;
  DOB?: string | Date | null;
  ADDR_LINE1?: string | null;
  ADDR_LINE2?: string | null;
  TOWN?: string | null;
  POSTCODE?: string | null;
  PHONE_NO?: string | null;
}

/** The SELECT list and joins that produce a ComposeRow; callers add WHERE / ORDER BY. */
export function composeSelect(booking: (t: string) => string): string {
  return `f.APPOINTMENT_ID, f.PAS_APPT_ID, f.SLOT_ID AS STORED_SLOT_ID, f.CURRENT_VERSION, f.STATUS AS STORED_STATUS, v.LAST_UPDATED_UTC, v.RESOURCE_JSON,
       p.APPT_STATUS, p.SLOT_ID, p.PATIENT_ID, p.START_DTTM, p.END_DTTM, s.SLOT_GUID, s.START_DTTM AS SLOT_START, s.END_DTTM AS SLOT_END, s.CLINIC_CODE,
       f.PAS_PATIENT_ID AS STORED_PATIENT_ID, pt.HOSP_NO, pt.NHS_NO, pt.NHS_NO_STATUS, pt.TITLE, pt.FORENAMES, pt.SURNAME, pt.SEX, pt.DOB,
       pt.ADDR_LINE1, pt.ADDR_LINE2, pt.TOWN, pt.POSTCODE, pt.PHONE_NO
  FROM ${booking('FHIR_APPOINTMENT')} f
  JOIN ${booking('FHIR_APPOINTMENT_VERSION')} v ON v.APPOINTMENT_ID = f.APPOINTMENT_ID AND v.VERSION_ID = f.CURRENT_VERSION
  LEFT JOIN APPOINTMENT p ON p.APPT_ID = f.PAS_APPT_ID
  LEFT JOIN CLINIC_SLOT s ON s.SLOT_ID = p.SLOT_ID
  LEFT JOIN PATIENT pt ON pt.PATIENT_ID = p.PATIENT_ID`;
}

export interface Composed {
  resource: Record<string, unknown>;
  status: string;
  /** Empty when the PAS agrees with the stored version. */
  kinds: PasChangeKind[];
  /** The legacy status as the mapping reads it; undefined for an unknown code (or a missing row). */
  legacy?: { status: AppointmentStatus; cancelledBy?: 'patient' | 'hospital' };
  /** The legacy code had no mapping. */
  unknownCode?: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const trim = (v: string | null | undefined) => (v ?? '').trim();

/**
 * Two instants in the same whole second. Legacy datetimes hold whole seconds: compared at that
 * resolution, a consumer's milliseconds are no change (compose) and no disagreement (consistency).
 */
export function sameSecond(a: unknown, b: unknown): boolean {
  const seconds = (t: unknown) => Math.floor(Date.parse(String(t)) / 1000);
  return typeof a === 'string' && typeof b === 'string' && seconds(a) === seconds(b);
}

/**
 * The legacy appointment is gone: does the stored version stand? After a final state, or once the
 * appointment has begun (a clinic's archive or purge of one that took place, often still 'B' or
 * 'A'), yes. Before it began, the PAS deleted a booking made in error (its slot may be someone
 * else's now): the caller records entered-in-error, a final state, never booked again, never
 * cancellable. compose and the consistency check both ask this.
 */
export function goneRowLeavesVersion(storedStatus: string, storedStart: unknown, now = Date.now()): boolean {
  if (FINAL_STATUSES.includes(storedStatus)) return true;
  const start = Date.parse(String(storedStart));
  return !(start > now);
}

export function compose(row: ComposeRow, mapping: StatusMapping, clock: LocalClock, localPatientIdSystem?: string): Composed {
  const stored = JSON.parse(row.RESOURCE_JSON) as Json;
  const storedStatus = trim(row.STORED_STATUS);
  if (row.APPT_STATUS === null || row.SLOT_ID === null || row.START_DTTM === null || row.END_DTTM === null) {
    if (goneRowLeavesVersion(storedStatus, stored.start)) return { resource: stored, status: storedStatus, kinds: [] };
    return { resource: { ...stored, status: ENTERED_IN_ERROR }, status: ENTERED_IN_ERROR, kinds: ['status'] };
  }
  const kinds: PasChangeKind[] = [];
  let resource: Json = { ...stored };

  // Status. An unknown code keeps the last known FHIR status (never read as free or cancellable).
  const legacy = legacyStatus(mapping, row.APPT_STATUS);
  let status = storedStatus;
  const extensions = arr(stored.extension);
  const isReason = (e: unknown) => isObj(e) && e.url === CANCELLATION_REASON_URL;
  // A clerk re-coding who cancelled (P <-> H) changes the reason we wrote (never the consumer's own).
  const ours = extensions.find((e): e is Json => isReason(e) && isObj(e) && OUR_REASONS.includes(e.valueString as string));
  const recoded = legacy?.status === 'cancelled' && legacy.cancelledBy && storedStatus === 'cancelled' && ours && ours.valueString !== CANCELLED_BY_TEXT[legacy.cancelledBy];
  if (legacy && (legacy.status !== storedStatus || recoded)) {
    status = legacy.status;
    kinds.push('status');
    resource.status = status;
    if (status === 'cancelled' && legacy.cancelledBy) {
      const reason = { url: CANCELLATION_REASON_URL, valueString: CANCELLED_BY_TEXT[legacy.cancelledBy] };
      if (recoded) resource.extension = extensions.map((e) => (e === ours ? { ...ours, ...reason } : e));
      else if (!extensions.some(isReason)) resource.extension = [...extensions, reason];
    } else if (status !== 'cancelled' && extensions.some(isReason)) {
      // Reinstated by a clerk (H/P back to B): a cancellation reason would contradict the status.
      const kept = extensions.filter((e) => !isReason(e));
      if (kept.length > 0) resource.extension = kept;
      else delete resource.extension;
    }
  }

  // Times.
  const start = clock.toInstant(row.START_DTTM);
  const end = clock.toInstant(row.END_DTTM);
  if (!sameSecond(stored.start, start) || !sameSecond(stored.end, end)) {
    kinds.push('time');
    resource.start = start;
    resource.end = end;
  }

  // Slot: compared with the slot the product recorded (the consumer's contained Slot id is theirs).
  const slotId = String(row.SLOT_ID);
  const contained = arr(stored.contained);
  const storedSlot = contained.find((r): r is Json => isObj(r) && r.resourceType === 'Slot');
  // A slot re-timed or moved to another clinic on the PAS is a change of the contained Slot too.
  // Only a contained Slot the product wrote as the PAS had it is compared: a version from before that
  // (no PAS_PATIENT_ID yet) holds the consumer's copy, which may differ though the PAS changed nothing.
  // Its next version, made for any other change, takes the PAS's slot.
  const slotAsPas = row.STORED_PATIENT_ID !== null && row.STORED_PATIENT_ID !== undefined;
  if (row.SLOT_ID !== row.STORED_SLOT_ID || (slotAsPas && storedSlot && slotDiffers(storedSlot, row, clock))) kinds.push('slot');

  // Patient link. Another PAS patient (PATIENT_ID differs from the one the version was made for; a
  // row from before that was recorded falls back to its identifiers differing) gets a contained
  // Patient and participant composed wholly from the PATIENT row: never one person's name with
  // another's NHS number. The same patient keeps the consumer's text; only identifiers follow.
  const storedPatient = contained.find((r): r is Json => isObj(r) && r.resourceType === 'Patient');
  const patientIdentifiers = storedPatient ? arr(storedPatient.identifier) : [];
  const identifiersNow = identifiersFromPas(patientIdentifiers, row, localPatientIdSystem);
  const identifiersChanged = identifiersNow.length !== patientIdentifiers.length || identifiersNow.some((i, n) => i !== patientIdentifiers[n]);
  const storedPatientId = row.STORED_PATIENT_ID ?? null;
  const relinked = row.PATIENT_ID !== null && (storedPatientId !== null ? Number(row.PATIENT_ID) !== Number(storedPatientId) : identifiersChanged);
  const patientChanged = relinked || identifiersChanged;
  if (patientChanged) kinds.push('patient');
  let patientNow: Json | undefined;
  if (storedPatient && patientChanged) {
    patientNow = relinked ? patientFromPas(storedPatient, row, localPatientIdSystem) : { ...storedPatient, identifier: identifiersNow };
    if (Array.isArray(stored.participant)) resource.participant = participantsFor(stored.participant, storedPatient, patientNow, relinked, localPatientIdSystem);
    if (!relinked && identifiersNow.length === 0) delete patientNow.identifier;
  }

  const rewriteSlot = kinds.includes('slot') || (!slotAsPas && kinds.length > 0);
  if (rewriteSlot || patientChanged) {
    resource.contained = contained.map((r) => {
      if (!isObj(r)) return r;
      if (r === storedSlot && rewriteSlot) {
        // The consumer's own contained Slot id is kept when it was not the legacy id.
        const id = String(r.id) === String(row.STORED_SLOT_ID) ? slotId : r.id;
        const times = row.SLOT_START && row.SLOT_END ? { start: clock.toInstant(row.SLOT_START), end: clock.toInstant(row.SLOT_END) } : {};
        return {
          ...slotAsPasHas(r, { ...times, clinic: trim(row.CLINIC_CODE) }),
          id,
          ...(row.SLOT_GUID ? { identifier: arr(r.identifier).map((i) => (isObj(i) ? { ...i, value: trim(row.SLOT_GUID).toLowerCase() } : i)) } : {}),
        };
      }
      if (r === storedPatient && patientNow) return patientNow;
      return r;
    });
  }
  // A contained Slot renamed after a move keeps Appointment.slot pointing at it, not at nothing.
  const renamedSlot = kinds.includes('slot') && storedSlot && String(storedSlot.id) === String(row.STORED_SLOT_ID) && slotId !== String(storedSlot.id);
  if (renamedSlot) {
    resource.slot = arr(stored.slot).map((ref) => (isObj(ref) && ref.reference === `#${storedSlot.id}` ? { ...ref, reference: `#${slotId}` } : ref));
  }
  if (kinds.length === 0) resource = stored;
  return { resource, status, kinds, ...(legacy ? { legacy } : { unknownCode: trim(row.APPT_STATUS) }) };
}

const trimmed = (v: string | null | undefined) => trim(v) || undefined;
const isPatientSystem = (system: unknown, local?: string) => system === NHS_NUMBER_SYSTEM || (local !== undefined && system === local);

/**
 * The stored Patient's identifiers as the PAS has them now: the NHS number and hospital number follow
 * their columns; an NHS number the PAS no longer holds (blanked, or another patient without one) is
 * removed and the hospital number takes its place, as a booking without NHS number has it.
 */
function identifiersFromPas(identifiers: unknown[], row: ComposeRow, local: string | undefined): unknown[] {
  const nhs = trim(row.NHS_NO);
  const hosp = trim(row.HOSP_NO);
  const now = identifiers.flatMap((i) => {
    if (!isObj(i) || typeof i.value !== 'string' || !isPatientSystem(i.system, local)) return [i];
    if (i.system === NHS_NUMBER_SYSTEM) return !nhs ? [] : nhs !== i.value ? [{ ...i, value: nhs }] : [i];
    return hosp && hosp !== i.value ? [{ ...i, value: hosp }] : [i];
  });
  const hasLocal = now.some((i) => isObj(i) && local !== undefined && i.system === local);
  if (!nhs && local && hosp && !hasLocal) now.push({ system: local, value: hosp });
  return now;
}

/**
 * PATIENT.NHS_NO_STATUS holds the CareConnect NHSNumberVerificationStatus codes
 * (NHS_NUMBER_VERIFICATION_STATUSES). The status written for one whose NHS_NO_STATUS is none of them
 * (NULL, blank, a local code): '02' "Number present
 * but not traced" claims no more than that the PAS holds a number (never that it was verified).
 * CareConnect-Patient-1 requires the extension on every NHS-number identifier.
 */
const UNKNOWN_NHS_STATUS = '02';
/**
 * What a composed Patient says where its PATIENT row lacks an element the Booking API requires
 * (spec §9.1: name with a family name, address): stated as missing, never taken from anyone else.
 */
export const NOT_RECORDED = 'Not recorded';

/** The identifiers of a PATIENT row: its NHS number (with its verification status, always), else its hospital number. */
function patientRowIdentifiers(row: ComposeRow, local: string | undefined): Json[] {
  const nhs = trim(row.NHS_NO);
  if (nhs) {
    const stated = trim(row.NHS_NO_STATUS);
    const code = Object.hasOwn(NHS_NUMBER_VERIFICATION_STATUSES, stated) ? stated : UNKNOWN_NHS_STATUS;
    const extension = [
      {
        url: EXTENSIONS.nhsNumberVerificationStatus,
        valueCodeableConcept: { coding: [{ system: SYSTEMS.nhsNumberVerificationStatus, code, display: NHS_NUMBER_VERIFICATION_STATUSES[code] }] },
      },
    ];
    return [{ extension, system: NHS_NUMBER_SYSTEM, value: nhs }];
  }
  const hosp = trim(row.HOSP_NO);
  return local && hosp ? [{ system: local, value: hosp }] : [];
}

/**
 * The contained Patient as the PATIENT row has it (CareConnect-Patient-1, spec §9.1), under the stored
 * id and meta. Valid as the facade validates a cancel's body whatever the row lacks: a blank SURNAME
 * is family "Not recorded" (with name.text the names the row has), no address columns an address
 * with text "Not recorded" (one with only a town gets that town as its text), the phone rank 1.
 */
function patientFromPas(stored: Json, row: ComposeRow, local: string | undefined): Json {
  const given = trim(row.FORENAMES).split(/\s+/).filter(Boolean);
  const title = trimmed(row.TITLE);
  const surname = trimmed(row.SURNAME);
  const dob = row.DOB instanceof Date ? row.DOB.toISOString().slice(0, 10) : trim(row.DOB).slice(0, 10);
  const lines = [trimmed(row.ADDR_LINE1), trimmed(row.ADDR_LINE2)].filter((l): l is string => l !== undefined);
  const town = trimmed(row.TOWN);
  const postcode = trimmed(row.POSTCODE);
  const phone = trimmed(row.PHONE_NO);
  const identifier = patientRowIdentifiers(row, local);
  const name: Json = {
    use: 'official',
    ...(surname ? {} : { text: given.length > 0 ? given.join(' ') : NOT_RECORDED }),
    family: surname ?? NOT_RECORDED,
    ...(given.length > 0 ? { given } : {}),
    ...(title ? { prefix: [title] } : {}),
  };
  // Lines, a postcode or text: an address the booking rules accept (a town alone is also its text).
  const address: Json = {
    use: 'home',
    ...(lines.length === 0 && !postcode ? { text: town ?? NOT_RECORDED } : {}),
    ...(lines.length > 0 ? { line: lines } : {}),
    ...(town ? { city: town } : {}),
    ...(postcode ? { postalCode: postcode } : {}),
  };
  return {
    resourceType: 'Patient',
    ...(stored.id !== undefined ? { id: stored.id } : {}),
    ...(stored.meta !== undefined ? { meta: stored.meta } : {}),
    ...(identifier.length > 0 ? { identifier } : {}),
    name: [name],
    // The patient's one contact point is the primary one (fs_patientcontact: every contact point ranked).
    ...(phone ? { telecom: [{ system: 'phone', value: phone, rank: 1 }] } : {}),
    gender: genderFromSex(row.SEX),
    ...(/^\d{4}-\d{2}-\d{2}$/.test(dob) ? { birthDate: dob } : {}),
    address: [address],
  };
}

/** A contained Patient's name for a participant's display: its name.text, else given names and family. */
function displayName(patient: Json): string {
  const name = arr(patient.name).find(isObj);
  if (!name) return '';
  if (typeof name.text === 'string' && name.text.trim() !== '') return name.text;
  return [...arr(name.given), name.family].filter((n) => typeof n === 'string' && n !== '').join(' ');
}

/**
 * The participants with the patient's actor (the one referencing the contained Patient, or naming a
 * patient identifier) following the patient now: identifier always; display only for another patient
 * (always present then: the names the PATIENT row has, or "Not recorded").
 */
function participantsFor(participants: unknown[], stored: Json, now: Json, relinked: boolean, local: string | undefined): unknown[] {
  const ref = stored.id !== undefined ? `#${String(stored.id)}` : undefined;
  const first = arr(now.identifier).find(isObj);
  const identifier = first ? { system: first.system, value: first.value } : undefined;
  const display = displayName(now) || NOT_RECORDED;
  return participants.map((p) => {
    if (!isObj(p) || !isObj(p.actor)) return p;
    const actor = p.actor;
    const isPatient = (ref !== undefined && actor.reference === ref) || (isObj(actor.identifier) && isPatientSystem(actor.identifier.system, local));
    if (!isPatient) return p;
    const { identifier: before, display: shown, ...rest } = actor;
    const next: Json = { ...rest };
    // The same patient: an identifier only where the consumer gave one, and their display kept.
    if (identifier && (relinked || before !== undefined)) next.identifier = identifier;
    if (relinked || shown !== undefined) next.display = relinked ? display : (shown as Json);
    return { ...p, actor: next };
  });
}

/**
 * A booked resource with its contained Slot's times and Schedule id as the PAS has the slot (the
 * consumer's copy may differ: another clinic's Schedule id, a typed time). Booked so, the first
 * version agrees with the PAS, and slotDiffers later finds only what the PAS changed.
 */
export function withSlotAsPas<T extends object>(resource: T, pas: { start: string; end: string; clinic: string }): T {
  const r = resource as Json;
  if (!Array.isArray(r.contained)) return resource;
  let done = false;
  const contained = r.contained.map((c) => {
    if (done || !isObj(c) || c.resourceType !== 'Slot') return c;
    done = true;
    return slotAsPasHas(c, pas);
  });
  return { ...r, contained } as T;
}

/** A contained Slot's `schedule.reference` ("Schedule/<clinic>"), when it has one. */
function scheduleReference(slot: Json): string | undefined {
  return isObj(slot.schedule) && typeof slot.schedule.reference === 'string' ? slot.schedule.reference : undefined;
}

/** One contained Slot with the PAS slot's times (when known) and its clinic as the Schedule id (when it names one). */
function slotAsPasHas(slot: Json, pas: { start?: string; end?: string; clinic: string }): Json {
  const reference = scheduleReference(slot);
  return {
    ...slot,
    ...(pas.start !== undefined && pas.end !== undefined ? { start: pas.start, end: pas.end } : {}),
    ...(reference && pas.clinic ? { schedule: { ...(slot.schedule as Json), reference: reference.replace(/Schedule\/[^/]*$/, `Schedule/${pas.clinic}`) } } : {}),
  };
}

/** The contained Slot's start, end or schedule (clinic) disagrees with the legacy slot row. */
function slotDiffers(slot: Json, row: ComposeRow, clock: LocalClock): boolean {
  if (row.SLOT_START && row.SLOT_END && (!sameSecond(slot.start, clock.toInstant(row.SLOT_START)) || !sameSecond(slot.end, clock.toInstant(row.SLOT_END)))) return true;
  const scheduleId = /Schedule\/([^/]*)$/.exec(scheduleReference(slot) ?? '')?.[1];
  const clinic = trim(row.CLINIC_CODE);
  return scheduleId !== undefined && clinic !== '' && scheduleId !== clinic;
}

/** The composed resource as the next version. */
export function asVersion(resource: Json, versionId: number, lastUpdated: string): Json {
  const meta = isObj(resource.meta) ? resource.meta : {};
  return { ...resource, meta: { ...meta, versionId: String(versionId), lastUpdated } };
}
