import { describe, expect, it } from 'vitest';
import { sampleBooking } from './booking-sample.js';
import { checkCancellation } from '../src/index.js';

/**
 * The cancel comparison (spec §11.2) on instants: the same point in time written another way
 * (UTC as Z or +00:00, another offset, with or without milliseconds) is no change, as receivers
 * must take any offset (spec §16); a different point in time still is one (422).
 */

const LOCAL_IDS = 'https://trust.example/Id/patient';
type Json = Record<string, any>;

const booking = sampleBooking();

/** A stored appointment with the given instants, as the PAS gives them back (UTC, milliseconds). */
function stored(start = '2030-03-02T10:00:00.000Z', end = '2030-03-02T10:10:00.000Z'): Json {
  const appointment = structuredClone(booking);
  Object.assign(appointment, { id: 'a1', meta: { versionId: '1' }, start, end });
  Object.assign(slotOf(appointment), { start, end });
  return appointment;
}
const slotOf = (a: Json): Json => a.contained.find((r: Json) => r.resourceType === 'Slot');

/** The stored appointment cancelled, with its Appointment and Slot instants rewritten. */
function cancelWith(appointment: Json, start: string, end: string, slot = { start, end }): Json {
  const body = structuredClone({ ...appointment, status: 'cancelled', start, end });
  Object.assign(slotOf(body), slot);
  return body;
}

describe('cancel compares instants as points in time, to the millisecond', () => {
  it.each([
    ['+00:00 for .000Z (.NET Firely)', '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.000Z', '2030-03-02T10:00:00+00:00', '2030-03-02T10:10:00+00:00'],
    ['.000Z for +00:00', '2030-03-02T10:00:00+00:00', '2030-03-02T10:10:00+00:00', '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.000Z'],
    ['Z without milliseconds for .000Z', '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.000Z', '2030-03-02T10:00:00Z', '2030-03-02T10:10:00Z'],
    ['+01:00 for the same instant', '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.000Z', '2030-03-02T11:00:00+01:00', '2030-03-02T11:10:00.000+01:00'],
    ['-05:00 for a +00:00 one', '2030-03-02T10:00:00+00:00', '2030-03-02T10:10:00+00:00', '2030-03-02T05:00:00-05:00', '2030-03-02T05:10:00-05:00'],
    ['digits past the millisecond', '2030-03-02T10:00:00.123Z', '2030-03-02T10:10:00.000Z', '2030-03-02T10:00:00.1230Z', '2030-03-02T10:10:00.000000Z'],
  ])('accepts %s (Appointment and Slot)', (_, storedStart, storedEnd, start, end) => {
    expect(checkCancellation(stored(storedStart, storedEnd), cancelWith(stored(storedStart, storedEnd), start, end), LOCAL_IDS)).toBeUndefined();
  });

  it.each([
    ['Appointment.start a minute later', cancelWith(stored(), '2030-03-02T10:01:00.000Z', '2030-03-02T10:10:00.000Z', { start: '2030-03-02T10:00:00.000Z', end: '2030-03-02T10:10:00.000Z' }), 'Appointment.start'],
    ['Appointment.start with the offset but not the hour changed', cancelWith(stored(), '2030-03-02T10:00:00+01:00', '2030-03-02T10:10:00.000Z', { start: '2030-03-02T10:00:00.000Z', end: '2030-03-02T10:10:00.000Z' }), 'Appointment.start'],
    ['Appointment.end a millisecond later', cancelWith(stored(), '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.001Z', { start: '2030-03-02T10:00:00.000Z', end: '2030-03-02T10:10:00.000Z' }), 'Appointment.end'],
    ['the contained Slot start an hour later, written +01:00', cancelWith(stored(), '2030-03-02T10:00:00.000Z', '2030-03-02T10:10:00.000Z', { start: '2030-03-02T12:00:00+01:00', end: '2030-03-02T10:10:00.000Z' }), 'Appointment.contained.Slot'],
  ])('still answers 422 for %s', (_, body, location) => {
    expect(checkCancellation(stored(), body, LOCAL_IDS)).toMatchObject({ status: 422, location: [location] });
  });

  it('compares a start that is not an instant as text, as before', () => {
    expect(checkCancellation(stored(), cancelWith(stored(), 'tomorrow', '2030-03-02T10:10:00.000Z', { start: '2030-03-02T10:00:00.000Z', end: '2030-03-02T10:10:00.000Z' }), LOCAL_IDS)).toMatchObject({ status: 422 });
  });
});
