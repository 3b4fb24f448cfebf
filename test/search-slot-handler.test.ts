import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { generateDemoData } from '@booking/pas';
import { loadDemoDataSqlite, SqlitePas } from '@booking/pas/sqlite';
import type { SearchSlotJob, WorkerReply } from '@booking/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectHarnessRules, type Json, resources } from './support/slot-bundle.js';
import { handleSearchSlot } from '../apps/worker/src/handlers/search-slot.js';

/**
 * The slot search handler over a real SQLite PAS where one directory service runs clinics at two
 * sites, for two organisations: every included resource is one the returned Slots lead to, and a
 * consumer following Slot → Schedule → (Location | HealthcareService.location) reaches the site
 * the slot is really at (spec §8.3, §19 #16).
 */

const SERVICE = '999999999';
const ALL = ['Schedule', 'Practitioner', 'PractitionerRole', 'HealthcareService', 'Organization', 'Location'] as const;

const bundleOf = (reply: WorkerReply): Json => {
  if (reply.type !== 'bundle') throw new Error(`expected a bundle, got ${JSON.stringify(reply)}`);
  return JSON.parse(gunzipSync(Buffer.from((reply as unknown as { gzip: string }).gzip, 'base64')).toString());
};
const key = (r: Json) => `${r.resourceType}/${r.id}`;

/** Every `reference` anywhere in the bundle's resources. */
function referencesIn(bundle: Json): Set<string> {
  const refs = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const ref = (v as { reference?: unknown }).reference;
      if (typeof ref === 'string') refs.add(ref);
      Object.values(v).forEach(walk);
    }
  };
  resources(bundle).forEach(walk);
  return refs;
}

/** The site a consumer finds for a slot: its Schedule's Location actor, else its HealthcareService's location. */
function siteOf(bundle: Json, slot: Json): string | undefined {
  const byKey = new Map(resources(bundle).map((r) => [key(r), r]));
  const schedule = byKey.get(slot.schedule.reference) as Json;
  const actors: string[] = schedule.actor.map((a: Json) => a.reference);
  const onSchedule = actors.find((r) => r.startsWith('Location/'));
  if (onSchedule) return onSchedule;
  const service = byKey.get(actors.find((r) => r.startsWith('HealthcareService/')) as string) as Json;
  return service.location?.[0]?.reference;
}

describe('slot search over a service with clinics at several sites', () => {
  const dir = mkdtempSync(join(tmpdir(), 'search-slot-handler-'));
  let pas: SqlitePas;
  let secondGuid: string;
  const SCHEDULE_SYSTEM = 'https://fhir.trust.example/Id/clinic-code';
  const deps = () => ({ pas, scheduleIdSystem: SCHEDULE_SYSTEM, retry: <T,>(run: () => Promise<T>) => run() });
  const search = async (include: readonly string[] = ALL) =>
    bundleOf(
      await handleSearchSlot(
        { kind: 'search-slot', baseUrl: 'https://provider.example/STU3/1', selfLink: 'https://provider.example/STU3/1/Slot?x', search: { serviceId: SERVICE, statuses: ['free'], count: 50, include } } as unknown as SearchSlotJob,
        deps(),
      ),
    );

  beforeAll(() => {
    pas = new SqlitePas({ path: join(dir, 'pas.db') });
    loadDemoDataSqlite(pas.db, generateDemoData({ slotCount: 4 }));
    // The same directory service run by a second clinic at another site (RDM30), for another
    // organisation (RDM020), with another clinician: §8.1 "one service may map to several schedules".
    pas.db.exec(`INSERT INTO CLINIC (CLINIC_CODE, CLINIC_NAME, DOS_SERVICE_ID, SERVICE_NAME, SITE_CODE, ORG_CODE, STAFF_CODE, ACTIVE_FLAG)
                 VALUES ('DEMOCL09', 'Second clinic', '${SERVICE}', 'Demo Urgent Treatment Centre', 'RDM30', 'RDM020', 'DEMO0003', 'Y')`);
    const first = pas.db.prepare(`SELECT START_DTTM, END_DTTM FROM CLINIC_SLOT WHERE CLINIC_CODE = 'DEMOCL01' ORDER BY START_DTTM LIMIT 1`).get() as { START_DTTM: string; END_DTTM: string };
    secondGuid = randomUUID();
    pas.db.prepare(`INSERT INTO CLINIC_SLOT (CLINIC_CODE, SLOT_GUID, START_DTTM, END_DTTM, SLOT_STATUS) VALUES ('DEMOCL09', ?, ?, ?, 'F')`).run(secondGuid, first.START_DTTM, first.END_DTTM);
  });
  afterAll(async () => {
    await pas?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leads every slot to the site it is at, and includes only resources something in the bundle references', async () => {
    const bundle = await search();
    const slots = resources(bundle, 'Slot');
    expect(slots).toHaveLength(5);
    expectHarnessRules(bundle, { baseUrl: 'https://provider.example/STU3/1' });

    for (const slot of slots) {
      expect(siteOf(bundle, slot), slot.identifier[0].value).toBe(slot.identifier[0].value === secondGuid ? 'Location/RDM30' : 'Location/RDM10');
    }
    const refs = referencesIn(bundle);
    const unreferenced = resources(bundle)
      .filter((r) => r.resourceType !== 'Slot')
      .map(key)
      .filter((k) => !refs.has(k));
    expect(unreferenced).toEqual([]);
    // Both sites come, each once; the service is at two sites, so it names neither of them.
    expect(resources(bundle, 'Location').map(key).sort()).toEqual(['Location/RDM10', 'Location/RDM30']);
    expect(resources(bundle, 'HealthcareService')).toEqual([expect.not.objectContaining({ location: expect.anything() })]);
    // Two organisations run its clinics: HealthcareService.providedBy (0..1) names neither, and no Organization is included.
    expect(resources(bundle, 'Organization')).toEqual([]);
    // Both clinicians still come: the second reached through its PractitionerRole, which its Schedule keeps.
    expect(resources(bundle, 'Practitioner').map(key).sort()).toEqual(['Practitioner/DEMO0001', 'Practitioner/DEMO0003']);
    expect(resources(bundle, 'PractitionerRole').map(key).sort()).toEqual(['PractitionerRole/R80001000000', 'PractitionerRole/R80003000000']);
  });

  it("identifies each Schedule by its clinic code in the trust's configured system (SCHEDULE_ID_SYSTEM)", async () => {
    const schedules = resources(await search(), 'Schedule');
    expect(schedules.map((s) => s.identifier)).toEqual([
      [{ system: SCHEDULE_SYSTEM, value: 'DEMOCL01' }],
      [{ system: SCHEDULE_SYSTEM, value: 'DEMOCL09' }],
    ]);
  });

  it('includes a Practitioner only when an included resource references it', async () => {
    const bundle = await search(['Schedule', 'Practitioner', 'HealthcareService']);
    const refs = referencesIn(bundle);
    for (const p of resources(bundle, 'Practitioner')) expect(refs.has(key(p)), key(p)).toBe(true);
  });
});
