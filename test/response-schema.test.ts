import { appointmentSearchSummary, bookedAppointment, informationOutcome, operationOutcome, problems, toXml, validateResource } from '@booking/fhir';
import { describe, expect, it } from 'vitest';
import { booking } from '../apps/facade/test/support.js';
import { checkBodies, checkJsonResource, schemasPresent } from './support/fhir-schema.js';

/**
 * The judge every end-to-end response goes through (support/response-collector.ts) must be able
 * to fail: here it is shown good and bad bodies, in process.
 */

const json = (what: string, resource: object) => ({ what, contentType: 'application/fhir+json', text: JSON.stringify(resource) });
const xml = (what: string, text: string) => ({ what, contentType: 'application/fhir+xml', text });

const appointment = () => bookedAppointment(booking() as never, { id: 'a1', versionId: '1', lastUpdated: '2030-01-01T09:00:00.000Z' }, undefined) as Record<string, any>;

// The official schemas sit in ../shared beside the clone (always so in CI).
describe.skipIf(!schemasPresent())('the response judge', () => {
  it('passes what the product writes: an Appointment, its search summary and OperationOutcomes, in JSON and XML', () => {
    const oo = operationOutcome(problems.slotUnavailable(), 'e1');
    const bad = booking();
    bad.minutesDuration = -5;
    bad.priority = 'urgent';
    const findings = operationOutcome(validateResource(bad) as never, 'e2');
    const created = informationOutcome('RESOURCE_CREATED', 'Appointment/a1 created, version 1', 'e3');
    // The summary of a version whose patient the PAS no longer identifies (NHS_NO cleared, no HOSP_NO): participant 1..* still.
    const unidentified = appointment();
    delete unidentified.contained.find((r: Record<string, any>) => r.resourceType === 'Patient').identifier;
    for (const p of unidentified.participant) delete p.actor.identifier;
    const bodies = [appointment(), appointmentSearchSummary(appointment() as never), appointmentSearchSummary(unidentified as never), oo, findings, created];
    expect(checkBodies([...bodies.map((b, i) => json(`json ${i}`, b)), ...bodies.map((b, i) => xml(`xml ${i}`, toXml(b)))])).toEqual([]);
  });

  it.each([
    ['an unknown element', (a: Record<string, any>) => (a.colour = 'blue'), /Appointment\.colour: unknown element/],
    ['a number for a string', (a: Record<string, any>) => (a.description = 5), /Appointment\.description: not a string/],
    ['one value where an array belongs', (a: Record<string, any>) => (a.slot = a.slot[0]), /Appointment\.slot: must be an array/],
    ['a missing required element', (a: Record<string, any>) => delete a.status, /Appointment\.status: required/],
    ['a broken invariant (ext-1)', (a: Record<string, any>) => (a.extension = [{ url: 'https://example.org/x' }]), /ext-1/],
    ['a broken invariant (app-2: start without end)', (a: Record<string, any>) => delete a.end, /app-2/],
    ['a contained resource not referenced (dom-3)', (a: Record<string, any>) => delete a.supportingInformation, /dom-3/],
  ])('fails %s in JSON', (_, spoil, message) => {
    const a = appointment();
    spoil(a);
    expect(checkJsonResource(a).map((e) => `${e.at}: ${e.message}`).join('\n')).toMatch(message);
  });

  it('fails a code outside its required value set through the XSD, for JSON bodies too', () => {
    const a = appointment();
    a.status = 'maybe';
    expect(checkBodies([json('appointment', a)]).join('\n')).toMatch(/\(as XML\): XSD .*status/);
  });

  it('fails XML that the XSD refuses', () => {
    const text = toXml(appointment()).replace('<status value="booked"/>', '<status value="booked"/><colour value="blue"/>');
    expect(checkBodies([xml('appointment', text)]).join('\n')).toMatch(/XSD .*colour/);
  });
});
