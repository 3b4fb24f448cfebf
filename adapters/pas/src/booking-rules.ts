import type { BookCommand } from './port.js';

/** Spec §19 #13: the appointment must lie within its slot; a copied identifier must match. */
export function slotMismatch(slot: { slotGuid: string; start: string; end: string }, cmd: BookCommand): string | undefined {
  if (cmd.slotGuid && cmd.slotGuid.toLowerCase() !== slot.slotGuid) return 'the contained Slot identifier does not match the slot';
  const [s, e, as, ae] = [slot.start, slot.end, cmd.start, cmd.end].map((t) => Date.parse(t)) as [number, number, number, number];
  if (as < s || ae > e || as >= ae) return 'the appointment start and end must lie within the slot';
  return undefined;
}
