import { describe, expect, it } from 'vitest';
import { type SlotSearchRows, slotSearchBundle } from '../src/slot-search.js';

/** The searchset Bundle's reference graph, from hand-made rows (the PAS side is tested in the worker). */

const ALL = ['Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location'] as const;
const ctx = { baseUrl: 'https://p.example/STU3/1', selfLink: 'https://p.example/STU3/1/Slot?x', bundleId: 'b', lastUpdated: '2026-06-01T00:00:00Z', scheduleIdSystem: 'https://trust.example/Id/clinic' };
type Json = Record<string, any>;

function rows(over: Partial<SlotSearchRows> = {}): SlotSearchRows {
  const slot = (id: string, scheduleId: string) => ({ slotId: id, slotGuid: `guid-${id}`, scheduleId, start: '2026-06-02T09:00:00Z', end: '2026-06-02T09:15:00Z', status: 'free' as const });
  return {
    slots: [slot('1', 'A'), slot('2', 'B')],
    schedules: [
      { scheduleId: 'A', serviceId: 'S', practitionerId: 'P1', practitionerRoleId: 'R1', locationId: 'L1' },
      { scheduleId: 'B', serviceId: 'S', practitionerId: 'P2', practitionerRoleId: 'R2', locationId: 'L2' },
    ],
    services: [{ serviceId: 'S', name: 'Service', organizationId: 'O1', locationId: 'L1' }],
    practitioners: [
      { practitionerId: 'P1', family: 'One', sdsRoleProfileId: 'R1' },
      { practitionerId: 'P2', family: 'Two', sdsRoleProfileId: 'R2' },
    ],
    practitionerRoles: [
      { roleId: 'R1', practitionerId: 'P1', organizationId: 'O1' },
      { roleId: 'R2', practitionerId: 'P2', organizationId: 'O2' },
    ],
    locations: [
      { locationId: 'L1', name: 'Site 1', organizationId: 'O1' },
      { locationId: 'L2', name: 'Site 2', organizationId: 'O2' },
    ],
    organizations: [
      { organizationId: 'O1', name: 'Org 1' },
      { organizationId: 'O2', name: 'Org 2' },
    ],
    ...over,
  };
}
const resources = (b: Json, type: string): Json[] => b.entry.map((e: Json) => e.resource).filter((r: Json) => r.resourceType === type);
const actorsOf = (b: Json, id: string) => resources(b, 'Schedule').find((s) => s.id === id)?.actor.map((a: Json) => a.reference);

describe('slotSearchBundle', () => {
  it("puts a Schedule's site on the Schedule when its HealthcareService names another, the Practitioner making way", () => {
    const b = slotSearchBundle(rows(), ALL, ctx);
    // On the service's own site the Location makes way, as before.
    expect(actorsOf(b, 'A')).toEqual(['HealthcareService/S', 'Practitioner/P1', 'PractitionerRole/R1']);
    expect(actorsOf(b, 'B')).toEqual(['HealthcareService/S', 'PractitionerRole/R2', 'Location/L2']);
    expect(resources(b, 'Location').map((l) => l.id)).toEqual(['L1', 'L2']);
    // P2 still comes, through its PractitionerRole; only the providedBy Organization comes.
    expect(resources(b, 'Practitioner').map((p) => p.id)).toEqual(['P1', 'P2']);
    expect(resources(b, 'Organization').map((o) => o.id)).toEqual(['O1']);
  });

  it('puts every site on its Schedule when the service names none', () => {
    const b = slotSearchBundle(rows({ services: [{ serviceId: 'S', name: 'Service' }] }), ALL, ctx);
    expect(actorsOf(b, 'A')).toEqual(['HealthcareService/S', 'PractitionerRole/R1', 'Location/L1']);
    expect(actorsOf(b, 'B')).toEqual(['HealthcareService/S', 'PractitionerRole/R2', 'Location/L2']);
    expect(resources(b, 'HealthcareService')[0]).not.toHaveProperty('location');
    expect(resources(b, 'Organization')).toEqual([]);
  });

  it('references an Organization by its ODS code at the national directory, its entry at that fullUrl (harness SFFSOrgsReturned)', () => {
    const directory = (ods: string) => `https://directory.spineservices.nhs.uk/STU3/Organization/${ods}`;
    const b = slotSearchBundle(rows({ slots: rows().slots.slice(0, 1) }), ALL, ctx);
    const entries = b.entry as Json[];
    const [service] = resources(b, 'HealthcareService');
    expect(service?.providedBy).toEqual({ reference: directory('O1') });
    // The Organization keeps its ODS code as id; its entry's fullUrl is the reference, so it resolves in the Bundle.
    const orgEntries = entries.filter((e) => e.resource.resourceType === 'Organization');
    expect(orgEntries.map((e) => [e.fullUrl, e.resource.id])).toEqual([[directory('O1'), 'O1']]);
    // Everything else keeps its fullUrl on the service root.
    for (const e of entries.filter((e) => e.resource.resourceType !== 'Organization')) expect(e.fullUrl).toBe(`${ctx.baseUrl}/${e.resource.resourceType}/${e.resource.id}`);
    // The other references to that Organization read the same.
    expect(resources(b, 'PractitionerRole')[0]?.organization).toEqual({ reference: directory('O1') });
    expect(resources(b, 'Location')[0]?.managingOrganization).toEqual({ reference: directory('O1') });
    // EB_SearchForFreeSlots.tstp orgs_returned: count(for $r in HealthcareService/providedBy/reference/@value
    // return Organization[id = substring($r,58)]) = count(Schedule); XPath's substring counts from 1.
    const orgIds = resources(b, 'Organization').map((o) => o.id);
    const found = resources(b, 'HealthcareService').flatMap((hs) => orgIds.filter((id) => id === (hs.providedBy?.reference as string).substring(57)));
    expect(found.length).toBe(resources(b, 'Schedule').length);
  });

  it('leaves out what no returned Slot leads to', () => {
    const b = slotSearchBundle(rows({ slots: rows().slots.slice(0, 1) }), ALL, ctx);
    expect(resources(b, 'Schedule').map((s) => s.id)).toEqual(['A']);
    expect(resources(b, 'Location').map((l) => l.id)).toEqual(['L1']);
    expect(resources(b, 'Practitioner').map((p) => p.id)).toEqual(['P1']);
    expect(resources(b, 'PractitionerRole').map((r) => r.id)).toEqual(['R1']);
  });
});
