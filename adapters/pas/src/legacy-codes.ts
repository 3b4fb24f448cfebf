import type { DeliveryChannel, SlotStatus } from './port.js';

/** One-letter legacy codes ⇄ FHIR codes, read trimmed and case-insensitively. Shared by every adapter so they cannot drift apart. */

const SLOT_STATUS_BY_CODE: Record<string, SlotStatus> = {
  F: 'free',
  B: 'busy',
  U: 'busy-unavailable',
  T: 'busy-tentative',
  X: 'entered-in-error',
};

export function slotStatusFromCode(code: string): SlotStatus {
  const status = SLOT_STATUS_BY_CODE[code.trim().toUpperCase()];
  if (!status) throw new Error(`unknown legacy slot status "${code}"`);
  return status;
}

export function slotStatusCode(status: SlotStatus): string {
  const entry = Object.entries(SLOT_STATUS_BY_CODE).find(([, s]) => s === status);
  if (!entry) throw new Error(`no legacy code for slot status "${status}"`);
  return entry[0];
}

const CHANNEL_BY_CODE: Record<string, DeliveryChannel> = { F: 'In-person', T: 'Telephone', V: 'Video' };

export function deliveryChannelFromCode(code: string | null | undefined): DeliveryChannel | undefined {
  return code ? CHANNEL_BY_CODE[code.trim().toUpperCase()] : undefined;
}

const SEX_BY_GENDER = { male: 'M', female: 'F', other: 'I', unknown: 'U' } as const;

export function sexCode(gender: keyof typeof SEX_BY_GENDER): string {
  return SEX_BY_GENDER[gender];
}

/** PATIENT.SEX read back as a FHIR gender (the booking's mapping reversed); anything else is unknown. */
export function genderFromSex(code: string | null | undefined): keyof typeof SEX_BY_GENDER {
  const entry = Object.entries(SEX_BY_GENDER).find(([, c]) => c === (code ?? '').trim().toUpperCase());
  return entry ? (entry[0] as keyof typeof SEX_BY_GENDER) : 'unknown';
}

/** Trims CHAR padding; empty becomes undefined. */
export function trimmed(value: string | null | undefined): string | undefined {
  const t = value?.trim();
  return t ? t : undefined;
}

export const BOOKING_SOURCE_CODE = 'NHSB';
