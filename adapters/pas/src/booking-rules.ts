import type { BookCommand } from './port.js';
import { codeList, legacyCode } from './session.js';

/** Spec §19 #13: the appointment must lie within its slot; a copied identifier must match. */
export function slotMismatch(slot: { slotGuid: string; start: string; end: string }, cmd: BookCommand): string | undefined {
  if (cmd.slotGuid && cmd.slotGuid.toLowerCase() !== slot.slotGuid) return 'the contained Slot identifier does not match the slot';
  const [s, e, as, ae] = [slot.start, slot.end, cmd.start, cmd.end].map((t) => Date.parse(t)) as [number, number, number, number];
  if (as < s || ae > e || as >= ae) return 'the appointment start and end must lie within the slot';
  return undefined;
}

/**
 * The slot's appointment rows that hold it: every legacy appointment whose code is not a cancelled
 * one (unknown codes hold it too). A SQL condition on a slot id expression; the booking's guard and
 * the slot search both ask it, so a search never offers as free a slot the booking refuses.
 */
export function heldByLiveAppointment(slotId: string, cancelledCodes: readonly string[]): string {
  const live = cancelledCodes.length > 0 ? `${legacyCode('a.APPT_STATUS')} NOT IN (${codeList(cancelledCodes)})` : '1 = 1';
  return `EXISTS (SELECT 1 FROM APPOINTMENT a WHERE a.SLOT_ID = ${slotId} AND ${live})`;
}

/**
 * A slot's status as a search reports it (spec §8.1: "only return slots genuinely bookable"), a SQL
 * expression over CLINIC_SLOT `s` giving its legacy code, trimmed and upper-cased. 'F' only when
 * the booking's guard would take the slot: a free row a live appointment holds (a PAS
 * inconsistency a clerk's screen can leave) reads 'B', busy; one that has started (START_DTTM not
 * after `now`, the local wall-clock now, as the booking compares it) reads 'U', busy-unavailable.
 * The clinic conditions of the guard (active, published to the directory) are the search's own
 * choice of clinics.
 */
export function searchedSlotStatus(now: string, cancelledCodes: readonly string[]): string {
  const code = legacyCode('s.SLOT_STATUS');
  return `CASE WHEN ${code} = 'F' AND ${heldByLiveAppointment('s.SLOT_ID', cancelledCodes)} THEN 'B'
              WHEN ${code} = 'F' AND s.START_DTTM <= ${now} THEN 'U'
              ELSE ${code} END`;
}
