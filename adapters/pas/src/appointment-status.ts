/**
 * Legacy APPOINTMENT.APPT_STATUS codes ⇄ FHIR Appointment.status: trust configuration.
 *
 * Written as one setting, e.g. the default
 *   B=booked,A=arrived,S=fulfilled,D=noshow,P=cancelled:patient,H=cancelled:hospital,C=cancelled
 * A code maps to one FHIR status; a cancelled code may say who cancelled (patient | hospital),
 * which becomes the CareConnect cancellation-reason extension. Codes are compared trimmed and
 * case-insensitively. The API writes the first code mapped to `booked` when it books and the
 * first code mapped to `cancelled:patient` when it cancels (the consumer acts for the patient).
 */

export const APPOINTMENT_STATUSES = ['booked', 'arrived', 'fulfilled', 'noshow', 'cancelled'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];

export interface LegacyAppointmentStatus {
  status: AppointmentStatus;
  cancelledBy?: 'patient' | 'hospital';
}

export interface StatusMapping {
  /** Upper-cased, trimmed legacy code → FHIR meaning. */
  readonly byCode: ReadonlyMap<string, LegacyAppointmentStatus>;
  /** Code written by a booking. */
  readonly bookedCode: string;
  /** Code written by a cancel through the API. */
  readonly patientCancelCode: string;
  /** Codes whose appointment no longer holds its slot (cancelled). Every other code, unknown ones too, holds it. */
  readonly cancelledCodes: readonly string[];
  /** Codes a consumer may still cancel (booked, arrived). Unknown codes are not cancellable. */
  readonly cancellableCodes: readonly string[];
}

export const DEFAULT_STATUS_MAPPING_TEXT = 'B=booked,A=arrived,S=fulfilled,D=noshow,P=cancelled:patient,H=cancelled:hospital,C=cancelled';

/** A legacy code: 1-10 letters or digits (the codes are inlined as SQL literals, so nothing else). */
const CODE = /^[A-Z0-9]{1,10}$/;

/** Parses and validates a mapping; throws one Error listing every mistake, one line each. */
export function parseStatusMapping(text: string = DEFAULT_STATUS_MAPPING_TEXT): StatusMapping {
  const mistakes: string[] = [];
  const byCode = new Map<string, LegacyAppointmentStatus>();
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) mistakes.push('the mapping is empty (expected CODE=status pairs separated by commas)');
  for (const entry of entries) {
    const m = /^([^=]*)=(.*)$/.exec(entry);
    if (!m) {
      mistakes.push(`"${entry}": expected CODE=status`);
      continue;
    }
    const code = (m[1] as string).trim().toUpperCase();
    const [status, by, ...rest] = (m[2] as string).trim().split(':').map((x) => x.trim());
    if (!CODE.test(code)) mistakes.push(`"${entry}": the code must be 1 to 10 letters or digits`);
    else if (byCode.has(code)) mistakes.push(`"${entry}": code ${code} is mapped twice`);
    if (!APPOINTMENT_STATUSES.includes(status as AppointmentStatus)) {
      mistakes.push(`"${entry}": unknown FHIR status "${status}" (expected one of ${APPOINTMENT_STATUSES.join(', ')})`);
      continue;
    }
    if (rest.length > 0 || (by !== undefined && !(status === 'cancelled' && (by === 'patient' || by === 'hospital')))) {
      mistakes.push(`"${entry}": only cancelled may say who cancelled, as cancelled:patient or cancelled:hospital`);
      continue;
    }
    if (CODE.test(code) && !byCode.has(code)) byCode.set(code, { status: status as AppointmentStatus, ...(by ? { cancelledBy: by as 'patient' | 'hospital' } : {}) });
  }
  const first = (pred: (s: LegacyAppointmentStatus) => boolean) => [...byCode].find(([, s]) => pred(s))?.[0];
  const bookedCode = first((s) => s.status === 'booked');
  const patientCancelCode = first((s) => s.status === 'cancelled' && s.cancelledBy === 'patient');
  if (entries.length > 0 && !bookedCode) mistakes.push('no code is mapped to booked (a booking needs one to write)');
  if (entries.length > 0 && !patientCancelCode) mistakes.push('no code is mapped to cancelled:patient (a cancel through the API needs one to write)');
  if (mistakes.length > 0) throw new Error(`invalid PAS appointment status mapping:\n${mistakes.map((m) => `  - ${m}`).join('\n')}`);
  const codes = (pred: (s: LegacyAppointmentStatus) => boolean) => [...byCode].filter(([, s]) => pred(s)).map(([c]) => c);
  return {
    byCode,
    bookedCode: bookedCode as string,
    patientCancelCode: patientCancelCode as string,
    cancelledCodes: codes((s) => s.status === 'cancelled'),
    cancellableCodes: codes((s) => s.status === 'booked' || s.status === 'arrived'),
  };
}

export const DEFAULT_STATUS_MAPPING = parseStatusMapping();

/** The FHIR meaning of a legacy code, or undefined when the mapping does not know it. */
export function legacyStatus(mapping: StatusMapping, code: string | null | undefined): LegacyAppointmentStatus | undefined {
  return mapping.byCode.get((code ?? '').trim().toUpperCase());
}
