import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sampleBooking } from './booking-sample.js';
import { checkProfile, informationOutcome, type OperationOutcome, operationOutcome, type Problem, problems, spineCodeOf, toXml, validateResource } from '../src/index.js';

/**
 * Every OperationOutcome the product sends declares Spine-OperationOutcome-1 (spec §14.1): held to
 * that profile's rules (issue.expression max 0, one details.coding whose system is fixed to Spine's,
 * no coding version or userSelected), built from the official profile by the same script and
 * checked by the same checker as the CareConnect profiles of a booking.
 */

const profiles = new URL('../../../../shared/spec/profiles', import.meta.url);

/** One of each problem the product answers with, with and without locations, and a multi-finding one. */
function outcomes(): [string, OperationOutcome][] {
  const built: [string, Problem][] = Object.entries(problems).map(([name, make]) => [name, (make as (d: string, l?: string[]) => Problem)('diagnostics', ['Appointment.start'])]);
  const invalid = sampleBooking();
  invalid.priority = 'urgent';
  invalid.minutesDuration = -5;
  built.push(['several findings', validateResource(invalid) as Problem], ['no location', problems.invalidResource('no location')]);
  return [
    ...built.map(([name, p]): [string, OperationOutcome] => [name, operationOutcome(p, 'e1')]),
    ['RESOURCE_CREATED', informationOutcome('RESOURCE_CREATED', 'created', 'e2')],
    ['RESOURCE_UPDATED', informationOutcome('RESOURCE_UPDATED', 'updated', 'e3')],
  ];
}

describe.skipIf(!existsSync(profiles))('OperationOutcomes against Spine-OperationOutcome-1', () => {
  it('meet the profile, but for the one deviation spec §19 #1 decides (slot no longer available)', async () => {
    const { profileRules } = (await import('../scripts/build-profile-rules.mjs' as string)) as { profileRules: (name: string) => Parameters<typeof checkProfile>[2] };
    const spine = profileRules('Spine-OperationOutcome-1');
    expect(spine.rules.map((r) => r.id)).toEqual(expect.arrayContaining(['OperationOutcome.issue.expression', 'OperationOutcome.issue.details.coding', 'OperationOutcome.issue.details.coding.system']));
    const all = outcomes();
    expect(all.length).toBeGreaterThan(20);
    for (const [name, oo] of all) {
      const findings = checkProfile(oo as never, 'OperationOutcome', spine).map((f) => `${f.expression}: ${f.message}`);
      if (name !== 'slotUnavailable') expect(findings, name).toEqual([]);
      // Known deviation (operation-outcome.ts): the harness's issue-type coding first, the Spine one after it.
      else expect(findings).toEqual([expect.stringMatching(/^OperationOutcome\.issue\[0\]\.details\.coding: .* at most 1/), expect.stringMatching(/^OperationOutcome\.issue\[0\]\.details\.coding\[0\]\.system: .* must be "https:\/\/fhir\.nhs\.uk/)]);
    }
  });
});

describe('where an issue points', () => {
  it('is told in location only (issue.expression is max 0 in the profile), one issue per finding', () => {
    const oo = operationOutcome(problems.invalidParameter('Unknown search parameter "startXXXXXXX"', ['startXXXXXXX']), 'e1');
    expect(oo.issue).toEqual([expect.objectContaining({ location: ['startXXXXXXX'] })]);
    expect(oo.issue[0]).not.toHaveProperty('expression');
    const invalid = sampleBooking();
    invalid.priority = 'urgent';
    invalid.minutesDuration = -5;
    const several = operationOutcome(validateResource(invalid) as Problem, 'e2');
    expect(several.issue.map((i) => i.location)).toEqual([['Appointment.priority', 'Appointment.minutesDuration'], ['Appointment.priority'], ['Appointment.minutesDuration']]);
    for (const issue of several.issue) expect(issue).not.toHaveProperty('expression');
  });
});

describe('the slot-taken 422, as the assurance script reads it (spec §9.4, §14.3)', () => {
  // EB_BookAppointment.tstp (BookAppointment_SlotAlreadyBooked) matches each of
  // /OperationOutcome/issue/details/coding/{system,code,display}/@value as one string: XPath takes
  // the first in document order, so the first coding must be the issue-type one.
  const harness = { system: 'http://hl7.org/fhir/issue-type', code: 'processing', display: 'Processing Failure' };
  const spine = { system: 'https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1', code: 'INVALID_REQUEST_STATE', display: 'The request exists but is not in an appropriate state for the call to succeed' };

  it('puts the issue-type coding first and keeps the Spine coding second, in JSON', () => {
    const oo = operationOutcome(problems.slotUnavailable(), 'e1');
    expect(oo.issue).toEqual([{ severity: 'error', code: 'processing', details: { coding: [harness, spine] }, diagnostics: 'Slot no longer available' }]);
    expect(spineCodeOf(oo)).toBe('INVALID_REQUEST_STATE');
  });

  it('and in XML, where the first <coding> in document order is what the XPath yields', () => {
    const xml = toXml(operationOutcome(problems.slotUnavailable(), 'e1'));
    const first = (element: string) => new RegExp(`<issue>.*?<details>.*?<coding>.*?<${element} value="([^"]*)"`, 's').exec(xml)?.[1];
    expect({ system: first('system'), code: first('code'), display: first('display') }).toEqual(harness);
    expect(/<diagnostics value="([^"]*)"/.exec(xml)?.[1]).toBe('Slot no longer available');
    expect(xml.indexOf(spine.system)).toBeGreaterThan(xml.indexOf(harness.system));
  });

  it('every other outcome keeps its one Spine coding first', () => {
    const oo = operationOutcome(problems.invalidState('Appointment already cancelled'), 'e1');
    expect(oo.issue[0]?.details.coding).toEqual([{ system: spine.system, code: 'INVALID_REQUEST_STATE', display: spine.display }]);
    expect(spineCodeOf(oo)).toBe('INVALID_REQUEST_STATE');
  });
});
