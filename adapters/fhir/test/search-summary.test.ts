import { describe, expect, it } from 'vitest';
import { appointmentSearchSummary, bookedAppointment, SUBSETTED_TAG, SYSTEMS, UNIDENTIFIED_PATIENT } from '../src/index.js';
import { sampleBooking } from './booking-sample.js';

/** What the Appointment search (spec §12) shows of a stored appointment: limited content only. */

const stamp = { id: 'a1', versionId: '3', lastUpdated: '2030-01-01T09:00:00.000Z' };

describe('appointmentSearchSummary', () => {
  it('keeps id, version, status, times, created and the patient by NHS number; tags the rest as left out', () => {
    const stored = bookedAppointment(sampleBooking(), stamp, undefined);
    const summary = appointmentSearchSummary(stored);
    expect(summary).toEqual({
      resourceType: 'Appointment',
      id: 'a1',
      meta: { versionId: '3', lastUpdated: stamp.lastUpdated, profile: [expect.stringContaining('CareConnect-Appointment-1')], tag: [SUBSETTED_TAG] },
      status: 'booked',
      start: stored.start,
      end: stored.end,
      created: stamp.lastUpdated,
      participant: [{ actor: { identifier: { system: SYSTEMS.nhsNumber, value: '9658218873' } }, status: 'accepted' }],
    });
  });

  it('names a patient without an NHS number by the PAS local identifier, never by name', () => {
    const body = sampleBooking();
    const patient = body.contained.find((r: Record<string, any>) => r.resourceType === 'Patient');
    delete patient.identifier;
    delete body.participant[0].actor.identifier;
    const stored = bookedAppointment(body, stamp, { system: 'https://trust.example/Id/pas-patient', value: 'P0042' });
    const summary = appointmentSearchSummary(stored);
    expect(summary.participant).toEqual([{ actor: { identifier: { system: 'https://trust.example/Id/pas-patient', value: 'P0042' } }, status: 'accepted' }]);
    expect(JSON.stringify(summary)).not.toMatch(/Bloggs|Jane|1970-01-01|High Street|01234|Reason for calling|doc1/);
  });

  it('keeps the patient participant (1..*) when the PAS holds no identifier for them any more: "Patient not identified", never a name', () => {
    // A clerk cleared NHS_NO and the patient has no HOSP_NO: the version composed from the PAS names them by reference only.
    const stored = bookedAppointment(sampleBooking(), stamp, undefined);
    const patient = (stored.contained as Record<string, any>[]).find((r) => r.resourceType === 'Patient') as Record<string, any>;
    delete patient.identifier;
    const participant = (stored.participant as Record<string, any>[])[0] as Record<string, any>;
    participant.actor = { reference: `#${patient.id}`, display: 'Jane Bloggs' };
    const summary = appointmentSearchSummary(stored);
    expect(summary.participant).toEqual([{ actor: { display: UNIDENTIFIED_PATIENT }, status: 'accepted' }]);
    expect(JSON.stringify(summary)).not.toMatch(/Bloggs|Jane|1970-01-01|High Street|01234|Reason for calling|doc1|#/);
  });
});
