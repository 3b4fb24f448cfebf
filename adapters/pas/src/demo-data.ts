import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';

/**
 * The demo data set, as legacy PAS rows. The same rows load into the SQLite demo PAS or a SQL
 * Server PAS, so demos, tests and benchmarks see one data set whatever the adapter.
 *
 * - 999999999: the happy-path service, `slotCount` free 15-minute slots from tomorrow 08:00
 *   (local), forty a day, so the first four days after today always hold free slots.
 * - 999999998: a service the PAS knows with no slots at all (searches give an empty bundle).
 * - 999999996, 999999994, 999999993: small services used by assurance-style tests; 999999993 also
 *   has busy and tentative slots so status searches have something to find.
 * Each service has its own organisation, site (location), clinician (practitioner + role).
 * SLOT_IDs are the PAS's own (IDENTITY / AUTOINCREMENT): from 1001 on a new PAS, so that none is
 * 123, the id the Booking API's example booking body gives its contained DocumentReference
 * (docs/pas.md, "Assurance data").
 */

export interface DemoDataOptions {
  /** Free slots for service 999999999 (default 160: four days). */
  slotCount?: number;
  timeZone?: string;
  /** "Now", for repeatable tests. */
  now?: Date;
}

export interface DemoData {
  organisations: Record<string, string | null>[];
  sites: Record<string, string | null>[];
  staff: Record<string, string | null>[];
  clinics: Record<string, string | null>[];
  slots: { CLINIC_CODE: string; SLOT_GUID: string; START_DTTM: string; END_DTTM: string; SLOT_STATUS: string; CONTACT_TYPE: string | null }[];
}

export const DEMO_SERVICE_WITH_SLOTS = '999999999';
export const DEMO_SERVICE_WITHOUT_SLOTS = '999999998';

const SLOTS_PER_DAY = 40;
const SLOT_MINUTES = 15;
const LOCAL_FORMAT = 'yyyy-MM-dd HH:mm:ss';

interface ServiceSpec {
  serviceId: string;
  n: number;
  name: string;
  slots: number;
}

export function generateDemoData(options: DemoDataOptions = {}): DemoData {
  const zone = options.timeZone ?? 'Europe/London';
  const tomorrow = DateTime.fromJSDate(options.now ?? new Date()).setZone(zone).startOf('day').plus({ days: 1 });
  const services: ServiceSpec[] = [
    { serviceId: DEMO_SERVICE_WITH_SLOTS, n: 1, name: 'Demo Urgent Treatment Centre', slots: options.slotCount ?? 160 },
    { serviceId: DEMO_SERVICE_WITHOUT_SLOTS, n: 2, name: 'Demo Service Without Slots', slots: 0 },
    { serviceId: '999999996', n: 3, name: 'Demo Service (security checks)', slots: SLOTS_PER_DAY },
    { serviceId: '999999994', n: 4, name: 'Demo Service (verb checks)', slots: SLOTS_PER_DAY },
    { serviceId: '999999993', n: 5, name: 'Demo Service (slots only)', slots: SLOTS_PER_DAY },
  ];
  const data: DemoData = { organisations: [], sites: [], staff: [], clinics: [], slots: [] };

  for (const s of services) {
    const org = `RDM0${s.n}`.padEnd(6, '0').slice(0, 6);
    const site = `RDM${s.n}`.padEnd(5, '0').slice(0, 5);
    const staff = `DEMO000${s.n}`.slice(0, 8);
    const clinic = `DEMOCL0${s.n}`.slice(0, 8);
    data.organisations.push({ ORG_CODE: org, ORG_NAME: `Demo Trust ${s.n}`, PHONE_NO: `0300 000 000${s.n}`, ADDR_LINE1: `${s.n} Demo Road`, ADDR_LINE2: null, TOWN: 'Leeds', POSTCODE: 'LS1 4AP' });
    data.sites.push({ SITE_CODE: site, SITE_NAME: `${s.name} Site`, ORG_CODE: org, PHONE_NO: `0300 000 100${s.n}`, ADDR_LINE1: `${s.n} Clinic Street`, ADDR_LINE2: null, TOWN: 'Leeds', POSTCODE: 'LS2 9JT' });
    data.staff.push({ STAFF_CODE: staff, TITLE: 'Dr', FORENAMES: 'Alex', SURNAME: `Demo${s.n}`, SDS_USER_ID: `90000000000${s.n}`, SDS_ROLE_PROFILE_ID: `R8000${s.n}`.padEnd(12, '0').slice(0, 12), JOB_ROLE_CODE: 'R0260', JOB_ROLE_DESC: 'General Medical Practitioner' });
    data.clinics.push({ CLINIC_CODE: clinic, CLINIC_NAME: `${s.name} Clinic`, DOS_SERVICE_ID: s.serviceId, SERVICE_NAME: s.name, SITE_CODE: site, ORG_CODE: org, STAFF_CODE: staff, ACTIVE_FLAG: 'Y' });

    for (let i = 0; i < s.slots; i++) {
      const day = Math.floor(i / SLOTS_PER_DAY);
      const start = tomorrow.plus({ days: day }).set({ hour: 8 }).plus({ minutes: (i % SLOTS_PER_DAY) * SLOT_MINUTES });
      const end = start.plus({ minutes: SLOT_MINUTES });
      const status = s.serviceId === '999999993' && i % 4 === 1 ? (i % 8 === 1 ? 'B' : 'T') : 'F';
      data.slots.push({
        CLINIC_CODE: clinic,
        SLOT_GUID: randomUUID(),
        START_DTTM: start.toFormat(LOCAL_FORMAT),
        END_DTTM: end.toFormat(LOCAL_FORMAT),
        SLOT_STATUS: status,
        CONTACT_TYPE: i % 3 === 0 ? 'F' : i % 3 === 1 ? 'T' : null,
      });
    }
  }
  return data;
}

/** Column order for bulk inserts, per legacy table. */
export const DEMO_TABLES = [
  ['ORGANISATION', 'organisations'],
  ['SITE', 'sites'],
  ['STAFF', 'staff'],
  ['CLINIC', 'clinics'],
  ['CLINIC_SLOT', 'slots'],
] as const;
