import { type Problem, problem } from '../operation-outcome.js';
import { type Finding, prepareBaseValidation, validateBase } from './base.js';
import { profileFor, validateProfile } from './profiles.js';

export type { Finding } from './base.js';
export { checkProfile } from './profiles.js';

/** At most this many findings are reported: enough to fix a body, not enough to make a huge answer. */
const MAX_FINDINGS = 20;

/**
 * Layer 1 of a request body's validation: the FHIR STU3 base definitions, then (only for a body
 * that is structurally sound) the CareConnect profiles of the resource and its contained resources.
 * Returns the 422 INVALID_RESOURCE problem naming each offending element, or undefined.
 * First drops, in place, the elements STU3 does not define (spec §4: ignored; base.ts
 * dropUnknownElements): the body the caller goes on with (queues, stores, echoes) is without them.
 */
export function validateResource(resource: unknown): Problem | undefined {
  const findings = resourceFindings(resource);
  if (findings.length === 0) return undefined;
  const shown = findings.slice(0, MAX_FINDINGS);
  const more = findings.length > shown.length ? ` (and ${findings.length - shown.length} more)` : '';
  const summary = problem(422, 'invalid', 'INVALID_RESOURCE', `The resource is not valid: ${shown.map((f) => `${f.expression}: ${f.message}`).join('; ')}${more}`, [...new Set(shown.map((f) => f.expression))]);
  // The first issue sums up (every element named); with several findings, one issue each follows.
  return shown.length > 1 ? { ...summary, findings: shown } : summary;
}

export function resourceFindings(resource: unknown): Finding[] {
  const base = validateBase(resource);
  if (base.length > 0 || typeof resource !== 'object' || resource === null) return base;
  const root = resource as Record<string, unknown>;
  const type = String(root.resourceType);
  const findings = validateProfile(root, type);
  if (Array.isArray(root.contained)) {
    for (const [i, r] of root.contained.entries()) findings.push(...validateProfile(r as Record<string, unknown>, `${type}.contained[${i}]`));
  }
  return findings;
}

/** Loads definitions and profile rules and compiles the invariants: call at startup, before serving. */
export function prepareValidation(): void {
  prepareBaseValidation();
  profileFor('Appointment');
  // One run over a typical body, so the first consumer's request does not pay for the warm-up either.
  resourceFindings(SAMPLE);
}

const SAMPLE = {
  resourceType: 'Appointment',
  contained: [
    { resourceType: 'Patient', id: 'p', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9658218873', extension: [{ url: 'x', valueString: 'y' }] }], name: [{ use: 'official', family: 'A' }], telecom: [{ system: 'phone', value: '1', rank: 1 }] },
    { resourceType: 'Slot', id: 's', identifier: [{ value: '1' }], schedule: { reference: 'Schedule/1' }, status: 'busy', start: '2030-01-01T00:00:00Z', end: '2030-01-01T00:10:00Z' },
  ],
  status: 'booked',
  start: '2030-01-01T00:00:00Z',
  end: '2030-01-01T00:10:00Z',
  slot: [{ reference: '#s' }],
  participant: [{ actor: { reference: '#p' }, status: 'accepted' }],
};
