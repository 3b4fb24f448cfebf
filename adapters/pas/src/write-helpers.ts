import { sexCode, trimmed } from './legacy-codes.js';
import type { AppointmentVersion, PatientDetails, ReplayedWrite, WriteContext } from './port.js';

/**
 * Write-side pieces both adapters share, so the SQLite and SQL Server adapters cannot drift apart on
 * what they store or how they decide. The SQL text uses `@NAME` parameters, which both drivers accept.
 */

const PATIENT_COLUMNS = [
  'NHS_NO', 'NHS_NO_STATUS', 'TITLE', 'FORENAMES', 'SURNAME', 'SEX', 'DOB', 'ADDR_LINE1', 'ADDR_LINE2', 'POSTCODE', 'PHONE_NO',
] as const;

export type PatientValues = Record<(typeof PATIENT_COLUMNS)[number], string | null>;

/** A patient registered by a booking, cut to the legacy column widths (DOB as a local datetime). */
export function patientValues(p: PatientDetails): PatientValues {
  return {
    NHS_NO: p.nhsNumber ?? null,
    NHS_NO_STATUS: p.nhsNumberStatus?.slice(0, 2) ?? null,
    TITLE: trimmed(p.title)?.slice(0, 10) ?? null,
    FORENAMES: trimmed(p.given)?.slice(0, 50) ?? null,
    SURNAME: p.family.slice(0, 50),
    SEX: sexCode(p.gender),
    DOB: `${p.birthDate} 00:00:00`,
    ADDR_LINE1: p.addressLines[0]?.slice(0, 50) ?? null,
    ADDR_LINE2: p.addressLines[1]?.slice(0, 50) ?? null,
    POSTCODE: p.postalCode?.slice(0, 8) ?? null,
    PHONE_NO: p.phone?.slice(0, 20) ?? null,
  };
}

/** Registers a temporary patient ('T'); parameters: the patientValues() keys plus @CREATED_DTTM. */
export const PATIENT_INSERT = `INSERT INTO PATIENT (${PATIENT_COLUMNS.join(', ')}, REG_TYPE, CREATED_DTTM)
VALUES (${PATIENT_COLUMNS.map((c) => `@${c}`).join(', ')}, 'T', @CREATED_DTTM)`;

/** The legacy APPOINTMENT.REASON is VARCHAR(255). */
export function appointmentReason(reason: string): string {
  return reason.slice(0, 255);
}

/** A legacy INT key given as a string; anything else cannot exist (-1). */
export function legacyIntegerId(id: string): number {
  return /^\d{1,10}$/.test(id) && Number(id) <= 2147483647 ? Number(id) : -1;
}

/** Version ids are the product's own small integers; anything else names no version. */
export function isVersionId(versionId: string): boolean {
  return /^\d{1,9}$/.test(versionId);
}

/** The REQUEST_LOG row of an earlier committed write. */
export interface RequestLogRow {
  JOB_ID: string;
  APPOINTMENT_ID: string;
  VERSION_ID: number;
}

/** The answer to a write whose X-Request-ID was already used. */
export function replayedWrite(earlier: RequestLogRow, ctx: WriteContext, version: AppointmentVersion): ReplayedWrite {
  return { outcome: 'replayed', sameJob: earlier.JOB_ID.trim() === ctx.jobId, appointmentId: earlier.APPOINTMENT_ID.trim(), version };
}
