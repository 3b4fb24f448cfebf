import { type AppointmentStatus, legacyStatus, type StatusMapping } from '../appointment-status.js';
import type { LocalClock } from '../local-time.js';
import type { PasChangeKind } from '../port.js';

/**
 * Composes the Appointment as the PAS rows say it is now: status, start, end, slot and patient
 * link come from the legacy APPOINTMENT, CLINIC_SLOT and PATIENT rows; everything the PAS cannot
 * hold (contained DocumentReference, description, the consumer's participant details, language…)
 * from the product's current stored version.
 */

const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const CANCELLATION_REASON_URL = 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-AppointmentCancellationReason-1';
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
  HOSP_NO: string | null;
  NHS_NO: string | null;
}

/** The SELECT list and joins that produce a ComposeRow; callers add WHERE / ORDER BY. */
export function composeSelect(booking: (t: string) => string): string {
  return `f.APPOINTMENT_ID, f.PAS_APPT_ID, f.SLOT_ID AS STORED_SLOT_ID, f.CURRENT_VERSION, f.STATUS AS STORED_STATUS, v.LAST_UPDATED_UTC, v.RESOURCE_JSON,
       p.APPT_STATUS, p.SLOT_ID, p.PATIENT_ID, p.START_DTTM, p.END_DTTM, s.SLOT_GUID, s.START_DTTM AS SLOT_START, s.END_DTTM AS SLOT_END, s.CLINIC_CODE, pt.HOSP_NO, pt.NHS_NO
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

export function compose(row: ComposeRow, mapping: StatusMapping, clock: LocalClock, localPatientIdSystem?: string): Composed {
  const stored = JSON.parse(row.RESOURCE_JSON) as Json;
  const storedStatus = trim(row.STORED_STATUS);
  // The legacy appointment is gone. After a final state (archived, purged) the stored version
  // stands; before one, the PAS deleted a booking made in error (its slot may be someone else's
  // now): entered-in-error, a final state, never booked again, never cancellable.
  if (row.APPT_STATUS === null || row.SLOT_ID === null || row.START_DTTM === null || row.END_DTTM === null) {
    if (FINAL_STATUSES.includes(storedStatus)) return { resource: stored, status: storedStatus, kinds: [] };
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
  if (row.SLOT_ID !== row.STORED_SLOT_ID || (storedSlot && slotDiffers(storedSlot, row, clock))) kinds.push('slot');

  // Patient link: the contained Patient's NHS number and local hospital number (by its system).
  const nhs = trim(row.NHS_NO);
  const hosp = trim(row.HOSP_NO);
  const storedPatient = contained.find((r): r is Json => isObj(r) && r.resourceType === 'Patient');
  const patientIdentifiers = storedPatient ? arr(storedPatient.identifier) : [];
  const relinked = patientIdentifiers.map((i) => {
    if (!isObj(i) || typeof i.value !== 'string') return i;
    if (i.system !== NHS_NUMBER_SYSTEM && (!localPatientIdSystem || i.system !== localPatientIdSystem)) return i;
    const now = i.system === NHS_NUMBER_SYSTEM ? nhs : hosp;
    return now && now !== i.value ? { ...i, value: now } : i;
  });
  const patientChanged = relinked.some((i, n) => i !== patientIdentifiers[n]);
  if (patientChanged) kinds.push('patient');

  if (kinds.includes('slot') || patientChanged) {
    resource.contained = contained.map((r) => {
      if (!isObj(r)) return r;
      if (r === storedSlot && kinds.includes('slot')) {
        // The consumer's own contained Slot id is kept when it was not the legacy id.
        const id = String(r.id) === String(row.STORED_SLOT_ID) ? slotId : r.id;
        const schedule = isObj(r.schedule) && typeof r.schedule.reference === 'string' ? r.schedule.reference : undefined;
        const clinic = trim(row.CLINIC_CODE);
        return {
          ...r,
          id,
          ...(row.SLOT_GUID ? { identifier: arr(r.identifier).map((i) => (isObj(i) ? { ...i, value: trim(row.SLOT_GUID).toLowerCase() } : i)) } : {}),
          ...(schedule && clinic ? { schedule: { ...(r.schedule as Json), reference: schedule.replace(/Schedule\/[^/]*$/, `Schedule/${clinic}`) } } : {}),
          ...(row.SLOT_START && row.SLOT_END ? { start: clock.toInstant(row.SLOT_START), end: clock.toInstant(row.SLOT_END) } : {}),
        };
      }
      if (r === storedPatient && patientChanged) return { ...r, identifier: relinked };
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

/** The contained Slot's start, end or schedule (clinic) disagrees with the legacy slot row. */
function slotDiffers(slot: Json, row: ComposeRow, clock: LocalClock): boolean {
  if (row.SLOT_START && row.SLOT_END && (!sameSecond(slot.start, clock.toInstant(row.SLOT_START)) || !sameSecond(slot.end, clock.toInstant(row.SLOT_END)))) return true;
  const reference = isObj(slot.schedule) && typeof slot.schedule.reference === 'string' ? slot.schedule.reference : '';
  const scheduleId = /Schedule\/([^/]*)$/.exec(reference)?.[1];
  const clinic = trim(row.CLINIC_CODE);
  return scheduleId !== undefined && clinic !== '' && scheduleId !== clinic;
}

/** The composed resource as the next version. */
export function asVersion(resource: Json, versionId: number, lastUpdated: string): Json {
  const meta = isObj(resource.meta) ? resource.meta : {};
  return { ...resource, meta: { ...meta, versionId: String(versionId), lastUpdated } };
}
