import { expect } from 'vitest';

/** A searchset Bundle of slots (spec §8.3) as the NHS assurance harness and its validator check it. */

export type Json = Record<string, any>;

export const resources = (bundle: Json, type?: string): Json[] => (bundle.entry ?? []).map((e: Json) => e.resource).filter((r: Json) => !type || r.resourceType === type);
export const idsOf = (bundle: Json, type: string) => resources(bundle, type).map((r) => r.id as string);
export const profile = (name: string) => [`https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-${name}-1`];
/** An Organization (by ODS code) as the national directory names it: its references and its entry's fullUrl. */
export const directoryOrganization = (odsCode: string) => `https://directory.spineservices.nhs.uk/STU3/Organization/${odsCode}`;

/** The §8.3 harness/validator checks on a searchset Bundle. */
export function expectHarnessRules(bundle: Json, window: { baseUrl: string; ge?: string; le?: string; statuses?: string[] }) {
  expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  expect(bundle.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(Date.parse(bundle.meta.lastUpdated)).toBeGreaterThan(Date.now() - 60_000);
  expect(bundle.link).toEqual([{ relation: 'self', url: expect.stringMatching(new RegExp(`^${window.baseUrl}/Slot\\?`)) }]);

  const slots = resources(bundle, 'Slot');
  expect(bundle.total).toBe(slots.length);
  for (const e of bundle.entry ?? []) {
    const local = `${window.baseUrl}/${e.resource.resourceType}/${e.resource.id}`;
    expect(e.fullUrl).toBe(e.resource.resourceType === 'Organization' ? directoryOrganization(e.resource.id) : local);
  }
  // Distinct ids per type, so each resource appears once.
  for (const type of new Set(resources(bundle).map((r) => r.resourceType))) {
    const ids = idsOf(bundle, type);
    expect(new Set(ids).size, `${type} ids`).toBe(ids.length);
  }

  for (const s of slots) {
    expect(s.meta.profile).toEqual(profile('Slot'));
    expect(s.identifier).toEqual([{ system: 'https://tools.ietf.org/html/rfc4122', value: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/) }]);
    expect(s.schedule.reference).toMatch(/^Schedule\/[^/]+$/);
    if (window.statuses) expect(window.statuses).toContain(s.status);
    expect(Date.parse(s.start)).toBeLessThanOrEqual(Date.parse(s.end));
    if (window.ge) expect(Date.parse(s.start)).toBeGreaterThanOrEqual(Date.parse(window.ge));
    if (window.le) expect(Date.parse(s.start)).toBeLessThanOrEqual(Date.parse(window.le));
  }

  const schedules = resources(bundle, 'Schedule');
  const included = (ref: string) => resources(bundle).some((r) => `${r.resourceType}/${r.id}` === ref);
  for (const s of schedules) {
    expect(s.meta.profile).toEqual(profile('Schedule'));
    expect(s.identifier).toHaveLength(1);
    const refs: string[] = s.actor.map((a: Json) => a.reference);
    expect(refs.length).toBeGreaterThanOrEqual(1);
    expect(refs.length).toBeLessThanOrEqual(3);
    expect(refs.filter((r) => r.startsWith('HealthcareService/'))).toHaveLength(1);
    expect(refs.filter((r) => r.startsWith('Practitioner/')).length).toBeLessThanOrEqual(1);
    expect(refs.filter((r) => r.startsWith('PractitionerRole/')).length).toBeLessThanOrEqual(1);
    // Every referenced Practitioner / HealthcareService is included.
    for (const r of refs.filter((r) => /^(Practitioner|HealthcareService)\//.test(r))) expect(included(r), r).toBe(true);
  }
  // Only resources related to the returned slots.
  if (schedules.length > 0) expect(new Set(slots.map((s) => s.schedule.reference))).toEqual(new Set(schedules.map((s) => `Schedule/${s.id}`)));

  const services = resources(bundle, 'HealthcareService');
  for (const hs of services) {
    expect(hs.meta.profile).toEqual(profile('HealthcareService'));
    expect(hs.identifier).toEqual([{ system: 'https://fhir.nhs.uk/Id/dos-service-id', value: hs.id }]);
    expect((hs.location ?? []).length).toBeLessThanOrEqual(1);
  }
  // Every included Organization is one a HealthcareService is providedBy, by its directory URL (= its fullUrl).
  const providers = new Set(services.map((hs) => hs.providedBy?.reference));
  for (const o of resources(bundle, 'Organization')) expect(providers.has(directoryOrganization(o.id))).toBe(true);

  const roleIds = idsOf(bundle, 'PractitionerRole');
  for (const p of resources(bundle, 'Practitioner')) {
    const roleProfile = p.identifier.find((i: Json) => i.system === 'https://fhir.nhs.uk/Id/sds-role-profile-id');
    expect(roleIds).toContain(roleProfile?.value);
  }
}

/**
 * The harness's SFFSOrgsReturned (SCAL P21, EB_SearchForFreeSlots.tstp `orgs_returned`), as it is written:
 * count(for $r in HealthcareService/providedBy/reference/@value return Organization[id = substring($r,58)])
 * = count(Schedule). XPath's substring is 1-based: from character 58, after a 57-character prefix.
 */
export function orgsReturned(bundle: Json): { found: number; schedules: number } {
  const orgIds = idsOf(bundle, 'Organization');
  const found = resources(bundle, 'HealthcareService')
    .map((hs) => hs.providedBy?.reference as string | undefined)
    .filter((r): r is string => r !== undefined)
    .reduce((n, r) => n + orgIds.filter((id) => id === r.substring(57)).length, 0);
  return { found, schedules: resources(bundle, 'Schedule').length };
}
