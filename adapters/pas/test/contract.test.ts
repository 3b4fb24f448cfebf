import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoData, generateDemoData } from '../src/demo-data.js';
import { LocalClock } from '../src/local-time.js';
import { createMssqlSchema, loadDemoDataMssql, MssqlPas } from '../src/mssql/index.js';
import type { AppointmentVersion, BookCommand, CancelCommand, PasPort, PatientDetails, SlotQuery, SlotStatus } from '../src/port.js';
import { loadDemoDataSqlite, SqlitePas } from '../src/sqlite/index.js';

/**
 * The PAS adapter contract: one set of cases, run against every adapter, so the SQL Server PAS
 * behaves exactly like the SQLite reference. SQLite always runs (a temporary file per suite); SQL
 * Server runs when PAS_MSSQL_URL names a database it may wipe (schema created, demo data loaded).
 */

const TABLES = [
  'ORGANISATION',
  'SITE',
  'STAFF',
  'CLINIC',
  'CLINIC_SLOT',
  'PATIENT',
  'APPOINTMENT',
  'FHIR_APPOINTMENT',
  'FHIR_APPOINTMENT_VERSION',
  'REQUEST_LOG',
] as const;
type Table = (typeof TABLES)[number];
type Counts = Record<Table, number>;

/** A FHIR appointment's legacy rows: APPOINTMENT with its PATIENT and CLINIC_SLOT. */
interface LegacyRows {
  APPT_STATUS: string;
  SOURCE_CODE: string;
  REASON: string | null;
  SLOT_STATUS: string;
  HOSP_NO: string | null;
  NHS_NO: string | null;
  REG_TYPE: string;
  SURNAME: string;
  FORENAMES: string | null;
}

interface RequestLogRow {
  INTERACTION: string;
  JOB_ID: string;
  APPOINTMENT_ID: string;
  VERSION_ID: number;
}

/** An adapter under test, with the few direct reads the cases need to see what was written. */
interface PasUnderTest {
  pas: PasPort;
  counts(): Promise<Counts>;
  legacyRows(appointmentId: string): Promise<LegacyRows | undefined>;
  requestLog(requestId: string): Promise<RequestLogRow | undefined>;
  close(): Promise<void>;
}

/** Opens a fresh PAS holding exactly `data`. */
type OpenPas = (data: DemoData) => Promise<PasUnderTest>;

/** Plain enough for both dialects; `@id` parameters work in better-sqlite3 and mssql alike. */
const legacyRowsSql = (fhirAppointment: string) => `
  SELECT p.APPT_STATUS, p.SOURCE_CODE, p.REASON, s.SLOT_STATUS, pt.HOSP_NO, pt.NHS_NO, pt.REG_TYPE, pt.SURNAME, pt.FORENAMES
    FROM ${fhirAppointment} f
    JOIN APPOINTMENT p ON p.APPT_ID = f.PAS_APPT_ID
    JOIN PATIENT pt ON pt.PATIENT_ID = p.PATIENT_ID
    JOIN CLINIC_SLOT s ON s.SLOT_ID = p.SLOT_ID
   WHERE f.APPOINTMENT_ID = @id`;
const requestLogSql = (requestLog: string) => `SELECT INTERACTION, JOB_ID, APPOINTMENT_ID, VERSION_ID FROM ${requestLog} WHERE REQUEST_ID = @id`;

/** CHAR columns come back blank-padded from SQL Server. */
function trimmedRow<T>(row: unknown): T | undefined {
  if (!row) return undefined;
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? v.trim() : v])) as T;
}

const openSqlite: OpenPas = async (data) => {
  const dir = mkdtempSync(join(tmpdir(), 'pas-contract-'));
  const pas = new SqlitePas({ path: join(dir, 'pas.db') });
  loadDemoDataSqlite(pas.db, data);
  const table = (t: Table) => (['FHIR_APPOINTMENT', 'FHIR_APPOINTMENT_VERSION', 'REQUEST_LOG'].includes(t) ? `booking_${t}` : t);
  return {
    pas,
    counts: async () =>
      Object.fromEntries(TABLES.map((t) => [t, (pas.db.prepare(`SELECT COUNT(*) AS n FROM ${table(t)}`).get() as { n: number }).n])) as Counts,
    legacyRows: async (id) => trimmedRow(pas.db.prepare(legacyRowsSql('booking_FHIR_APPOINTMENT')).get({ id })),
    requestLog: async (id) => trimmedRow(pas.db.prepare(requestLogSql('booking_REQUEST_LOG')).get({ id })),
    close: async () => {
      await pas.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const openMssql =
  (connectionString: string): OpenPas =>
  async (data) => {
    const pas = await MssqlPas.connect({ connectionString });
    await createMssqlSchema(pas.pool);
    await loadDemoDataMssql(pas.pool, data);
    const table = (t: Table) => (['FHIR_APPOINTMENT', 'FHIR_APPOINTMENT_VERSION', 'REQUEST_LOG'].includes(t) ? `booking.${t}` : t);
    const one = async <T,>(sql: string, id: string) => trimmedRow<T>((await pas.pool.request().input('id', id).query(sql)).recordset[0]);
    return {
      pas,
      counts: async () => {
        const counts: Partial<Counts> = {};
        for (const t of TABLES) counts[t] = (await pas.pool.request().query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table(t)}`)).recordset[0]?.n ?? 0;
        return counts as Counts;
      },
      legacyRows: (id) => one<LegacyRows>(legacyRowsSql('booking.FHIR_APPOINTMENT'), id),
      requestLog: (id) => one<RequestLogRow>(requestLogSql('booking.REQUEST_LOG'), id),
      close: () => pas.close(),
    };
  };

// ---------------------------------------------------------------------------------------------
// Test data: the demo data set, plus a clinic on the autumn clock-change night and an inactive one.

const clock = new LocalClock('Europe/London');
const CLOCK_CHANGE_SERVICE = '999999990';
const INACTIVE_SERVICE = '999999991';

/** The last Sunday of October after `from`, when Europe/London goes back from 02:00 BST to 01:00 GMT. */
function autumnClockChangeDay(from: DateTime): DateTime {
  for (let day = from.startOf('day'); ; day = day.plus({ days: 1 })) {
    if (day.set({ hour: 0 }).offset !== day.set({ hour: 3 }).offset && day.month === 10) return day;
  }
}
const CHANGE_DAY = autumnClockChangeDay(DateTime.now().setZone(clock.zone).plus({ months: 1 }));

function contractData(): DemoData {
  const data = generateDemoData({ timeZone: clock.zone });
  const clinic = (code: string, serviceId: string, active: 'Y' | 'N') => ({
    CLINIC_CODE: code,
    CLINIC_NAME: `Contract clinic ${code}`,
    DOS_SERVICE_ID: serviceId,
    SERVICE_NAME: `Contract service ${serviceId}`,
    SITE_CODE: null,
    ORG_CODE: 'RDM010',
    STAFF_CODE: null,
    ACTIVE_FLAG: active,
  });
  data.clinics.push(clinic('DSTCL001', CLOCK_CHANGE_SERVICE, 'Y'), clinic('INACTV01', INACTIVE_SERVICE, 'N'));
  // Every 15 minutes from 00:00 to 03:45 local: 01:00–01:59 happens twice that night.
  for (let i = 0; i < 16; i++) {
    const start = CHANGE_DAY.set({ hour: Math.floor(i / 4), minute: (i % 4) * 15 });
    data.slots.push({
      CLINIC_CODE: 'DSTCL001',
      SLOT_GUID: randomUUID(),
      START_DTTM: start.toFormat('yyyy-MM-dd HH:mm:ss'),
      END_DTTM: start.plus({ minutes: 15 }).toFormat('yyyy-MM-dd HH:mm:ss'),
      SLOT_STATUS: 'F',
      CONTACT_TYPE: null,
    });
  }
  data.slots.push({ ...(data.slots.at(-1) as DemoData['slots'][number]), CLINIC_CODE: 'INACTV01', SLOT_GUID: randomUUID() });
  return data;
}

interface DemoSlot {
  serviceId: string;
  guid: string;
  local: string;
  start: string;
  end: string;
  status: string;
}

function slotsOf(data: DemoData, clinicCode: string): DemoSlot[] {
  const serviceId = data.clinics.find((c) => c.CLINIC_CODE === clinicCode)?.DOS_SERVICE_ID as string;
  return data.slots
    .filter((s) => s.CLINIC_CODE === clinicCode)
    .map((s) => ({ serviceId, guid: s.SLOT_GUID, local: s.START_DTTM.slice(11, 16), start: clock.toInstant(s.START_DTTM), end: clock.toInstant(s.END_DTTM), status: s.SLOT_STATUS }));
}

function patient(nhsNumber?: string): PatientDetails {
  return {
    ...(nhsNumber ? { nhsNumber, nhsNumberStatus: '01' } : {}),
    title: 'Ms',
    given: 'Zoë',
    family: 'Example',
    gender: 'female',
    birthDate: '1980-02-29',
    addressLines: ['1 Test Street', 'Leeds'],
    postalCode: 'LS1 4AP',
    phone: '0113 496 0000',
  };
}

const randomNhsNumber = () => String(Math.floor(Math.random() * 9e9) + 1e9);

/** What buildResource produced, per appointment id, and the local patient number it was given. */
const built = new Map<string, { localNumber: string; resource: Record<string, unknown> }>();

function bookCommand(slot: { guid?: string; id?: string; start: string; end: string }, overrides: Partial<BookCommand> = {}): BookCommand {
  const appointmentId = randomUUID();
  const lastUpdated = new Date().toISOString();
  return {
    requestId: randomUUID(),
    jobId: `job-${randomUUID()}`,
    appointmentId,
    ...(slot.guid ? { slotGuid: slot.guid } : {}),
    ...(slot.id ? { slotId: slot.id } : {}),
    start: slot.start,
    end: slot.end,
    reason: 'Minor injury – “sprained” ankle',
    patient: patient(),
    lastUpdated,
    buildResource(localNumber) {
      // Everything JSON can carry, so any rewrite of the stored text shows.
      const resource = {
        resourceType: 'Appointment',
        id: appointmentId,
        meta: { versionId: '1', lastUpdated },
        status: 'booked',
        start: slot.start,
        end: slot.end,
        created: lastUpdated,
        description: 'Zoë’s “follow-up” — 😀 <b>&amp;</b> \\ "quoted" \u2028 \t',
        minutesDuration: 15,
        priority: 0,
        flag: true,
        nothing: null,
        contained: [{ resourceType: 'Patient', id: 'P1', identifier: [{ system: 'https://example.org/local', value: localNumber }] }],
        participant: [{ actor: { reference: '#P1' }, status: 'accepted' }],
      };
      built.set(appointmentId, { localNumber, resource });
      return resource;
    },
    ...overrides,
  };
}

function cancelCommand(version: AppointmentVersion, expectedVersionId = version.versionId, overrides: Partial<CancelCommand> = {}): CancelCommand {
  const lastUpdated = new Date().toISOString();
  const next = String(Number(version.versionId) + 1);
  return {
    requestId: randomUUID(),
    jobId: `job-${randomUUID()}`,
    appointmentId: version.appointmentId,
    expectedVersionId,
    lastUpdated,
    resource: { ...version.resource, status: 'cancelled', meta: { versionId: next, lastUpdated } },
    ...overrides,
  };
}

const json = (value: unknown) => JSON.stringify(value);

// ---------------------------------------------------------------------------------------------

export function describePasContract(name: string, open: OpenPas): void {
  describe(`PAS contract: ${name}`, () => {
    const data = contractData();
    const DEMO01 = slotsOf(data, 'DEMOCL01'); // service 999999999, 160 free slots
    const DEMO05 = slotsOf(data, 'DEMOCL05'); // service 999999993, busy and tentative slots too
    const DST = slotsOf(data, 'DSTCL001');
    // Slots the booking cases take, one or more each, never shared (the search cases read DEMO01's first day).
    const free = [...slotsOf(data, 'DEMOCL04'), ...DEMO01.slice(80)].filter((s) => s.status === 'F');
    const takeSlot = (): DemoSlot => {
      const slot = free.shift();
      if (!slot) throw new Error('the contract cases ran out of free slots');
      return slot;
    };

    let subject: PasUnderTest;
    let pas: PasPort;
    beforeAll(async () => {
      subject = await open(data);
      pas = subject.pas;
    });
    afterAll(async () => {
      await subject?.close();
    });

    const search = (query: Partial<SlotQuery> & { serviceId: string }) => pas.searchSlots({ statuses: [], limit: 500, ...query });
    /** The slot as the PAS reports it now (status, logical id). */
    const slotRow = async (slot: DemoSlot) => {
      const result = await search({ serviceId: slot.serviceId, startFrom: { instant: slot.start, inclusive: true }, startTo: { instant: slot.start, inclusive: true } });
      return result.slots.find((s) => s.slotGuid === slot.guid);
    };
    const book = async (slot = takeSlot(), overrides: Partial<BookCommand> = {}) => {
      const cmd = bookCommand(slot, overrides);
      const result = await pas.book(cmd);
      if (result.outcome !== 'booked') throw new Error(`expected a booking, got ${json(result)}`);
      return { cmd, slot, version: result.version };
    };

    describe('searchSlots', () => {
      it("returns only the service's slots inside the UTC window, honouring exclusive and inclusive bounds", async () => {
        const exclusiveFrom = await search({ serviceId: '999999999', startFrom: { instant: DEMO01[2]!.start, inclusive: false }, startTo: { instant: DEMO01[6]!.start, inclusive: true } });
        expect(exclusiveFrom.serviceKnown).toBe(true);
        // Other services have slots at exactly these times; none may appear.
        expect(exclusiveFrom.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(3, 7).map((s) => s.guid));

        const exclusiveTo = await search({ serviceId: '999999999', startFrom: { instant: DEMO01[2]!.start, inclusive: true }, startTo: { instant: DEMO01[6]!.start, inclusive: false } });
        expect(exclusiveTo.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(2, 6).map((s) => s.guid));

        // Local wall-clock rows come back as the right UTC instants, with codes translated.
        const [first, second, third] = exclusiveFrom.slots;
        expect(first).toEqual({ slotId: expect.stringMatching(/^\d+$/), slotGuid: DEMO01[3]!.guid, scheduleId: 'DEMOCL01', start: DEMO01[3]!.start, end: DEMO01[3]!.end, status: 'free', deliveryChannel: 'In-person' });
        expect(second?.deliveryChannel).toBe('Telephone');
        expect(third).not.toHaveProperty('deliveryChannel');
      });

      it('treats several statuses as alternatives (OR), and filters on each', async () => {
        const busyOrTentative = await search({ serviceId: '999999993', statuses: ['busy', 'busy-tentative'] });
        expect(busyOrTentative.slots.map((s) => s.slotGuid)).toEqual(DEMO05.filter((s) => s.status !== 'F').map((s) => s.guid));
        expect(busyOrTentative.slots).toHaveLength(10);
        expect(new Set(busyOrTentative.slots.map((s) => s.status))).toEqual(new Set<SlotStatus>(['busy', 'busy-tentative']));

        const busy = await search({ serviceId: '999999993', statuses: ['busy'] });
        expect(busy.slots.map((s) => s.slotGuid)).toEqual(DEMO05.filter((s) => s.status === 'B').map((s) => s.guid));
        const freeOnly = await search({ serviceId: '999999993', statuses: ['free'] });
        expect(freeOnly.slots).toHaveLength(30);
        const none = await search({ serviceId: '999999993', statuses: ['entered-in-error'] });
        expect(none.slots).toEqual([]);
      });

      it('honours the limit, keeping the earliest slots', async () => {
        const five = await search({ serviceId: '999999999', limit: 5 });
        expect(five.slots.map((s) => s.slotGuid)).toEqual(DEMO01.slice(0, 5).map((s) => s.guid));
        const one = await search({ serviceId: '999999999', limit: 1, startFrom: { instant: DEMO01[10]!.start, inclusive: true } });
        expect(one.slots.map((s) => s.slotGuid)).toEqual([DEMO01[10]!.guid]);
      });

      it('returns every resource the slots point at, each once and trimmed of legacy padding', async () => {
        const result = await search({ serviceId: '999999999', limit: 40 });
        expect(result.slots).toHaveLength(40);
        expect(result.schedules).toEqual([
          { scheduleId: 'DEMOCL01', name: 'Demo Urgent Treatment Centre Clinic', serviceId: '999999999', practitionerId: 'DEMO0001', practitionerRoleId: 'R80001000000', locationId: 'RDM10' },
        ]);
        expect(result.services).toEqual([{ serviceId: '999999999', name: 'Demo Urgent Treatment Centre', organizationId: 'RDM010', locationId: 'RDM10' }]);
        expect(result.practitioners).toEqual([
          { practitionerId: 'DEMO0001', title: 'Dr', given: 'Alex', family: 'Demo1', sdsUserId: '900000000001', sdsRoleProfileId: 'R80001000000' },
        ]);
        expect(result.practitionerRoles).toEqual([
          { roleId: 'R80001000000', practitionerId: 'DEMO0001', organizationId: 'RDM010', jobRoleCode: 'R0260', jobRoleName: 'General Medical Practitioner' },
        ]);
        expect(result.locations).toEqual([
          { locationId: 'RDM10', name: 'Demo Urgent Treatment Centre Site', organizationId: 'RDM010', phone: '0300 000 1001', address: { lines: ['1 Clinic Street'], city: 'Leeds', postalCode: 'LS2 9JT' } },
        ]);
        expect(result.organizations).toEqual([
          { organizationId: 'RDM010', name: 'Demo Trust 1', phone: '0300 000 0001', address: { lines: ['1 Demo Road'], city: 'Leeds', postalCode: 'LS1 4AP' } },
        ]);
      });

      it('reports an unknown service (or one whose only clinic is inactive) as not known', async () => {
        for (const serviceId of ['123456789', INACTIVE_SERVICE, "999999999' OR '1'='1"]) {
          const result = await search({ serviceId });
          expect(result.serviceKnown, serviceId).toBe(false);
          expect(result.slots).toEqual([]);
        }
      });

      it('answers a known service without slots with an empty, known result', async () => {
        const result = await search({ serviceId: '999999998' });
        expect(result).toEqual({ serviceKnown: true, slots: [], schedules: [], services: [], practitioners: [], practitionerRoles: [], locations: [], organizations: [] });
      });

      it('finds slots on the autumn clock-change night by their UTC instants', async () => {
        const byWindow = async (from: string, to: string) =>
          (await search({ serviceId: CLOCK_CHANGE_SERVICE, startFrom: { instant: from, inclusive: true }, startTo: { instant: to, inclusive: false } })).slots.map((s) => s.slotGuid);
        const day = CHANGE_DAY.toISODate() as string;
        const previous = CHANGE_DAY.minus({ days: 1 }).toISODate() as string;

        // The whole night: all sixteen, once each, in order of their UTC start.
        const all = await byWindow(`${previous}T12:00:00Z`, `${day}T12:00:00Z`);
        expect(all).toEqual([...DST].sort((a, b) => a.start.localeCompare(b.start)).map((s) => s.guid));
        // 23:00–00:00 UTC is 00:00–00:59 BST: the four slots before the repeated hour.
        expect(await byWindow(`${previous}T23:00:00Z`, `${day}T00:00:00Z`)).toEqual(DST.filter((s) => s.local < '01:00').map((s) => s.guid));
        // 00:00–02:00 UTC holds the repeated hour 01:00–01:59, however it was read, and nothing else.
        const repeated = await byWindow(`${day}T00:00:00Z`, `${day}T02:00:00Z`);
        expect(repeated).toEqual(DST.filter((s) => s.local >= '01:00' && s.local < '02:00').map((s) => s.guid));
        // A window inside the repeated hour: its local bounds cross (01:30 BST comes before 01:30 GMT),
        // so only a look-up widened around the change finds what lies in it.
        const inside = DST.filter((s) => s.start >= `${day}T00:30:00.000Z` && s.start < `${day}T01:30:00.000Z`);
        expect(inside.length).toBeGreaterThan(0);
        expect(await byWindow(`${day}T00:30:00Z`, `${day}T01:30:00Z`)).toEqual(inside.map((s) => s.guid));
        // After the change, 02:00 local is 02:00 UTC.
        expect(await byWindow(`${day}T02:00:00Z`, `${day}T03:00:00Z`)).toEqual(DST.filter((s) => s.local >= '02:00' && s.local < '03:00').map((s) => s.guid));
      });
    });

    describe('book', () => {
      it('books a free slot: version 1 stored exactly as built, and the slot is busy', async () => {
        const slot = takeSlot();
        // GUIDs are matched whatever their case; the PAS reports them lower case.
        const cmd = bookCommand({ ...slot, guid: slot.guid.toUpperCase() });
        const result = await pas.book(cmd);
        expect(result).toEqual({
          outcome: 'booked',
          version: { appointmentId: cmd.appointmentId, versionId: '1', lastUpdated: cmd.lastUpdated, status: 'booked', current: true, resource: built.get(cmd.appointmentId)?.resource },
        });
        const stored = await pas.readAppointment(cmd.appointmentId);
        expect(json(stored?.resource)).toBe(json(built.get(cmd.appointmentId)?.resource));
        expect(await pas.readAppointment(cmd.appointmentId, '1')).toEqual(stored);
        expect(await slotRow(slot)).toMatchObject({ slotGuid: slot.guid, status: 'busy' });
      });

      it('writes the request log, legacy appointment and version together', async () => {
        const before = await subject.counts();
        const { cmd } = await book();
        const after = await subject.counts();
        expect(delta(before, after)).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
        expect(await subject.requestLog(cmd.requestId)).toEqual({ INTERACTION: 'book', JOB_ID: cmd.jobId, APPOINTMENT_ID: cmd.appointmentId, VERSION_ID: 1 });
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ APPT_STATUS: 'B', SOURCE_CODE: 'NHSB', REASON: cmd.reason, SLOT_STATUS: 'B' });
      });

      it('refuses a slot that is not free, writing nothing', async () => {
        const { slot } = await book();
        const before = await subject.counts();
        expect(await pas.book(bookCommand(slot))).toEqual({ outcome: 'slot-unavailable' });
        for (const status of ['B', 'T']) {
          const legacy = DEMO05.find((s) => s.status === status) as DemoSlot;
          expect(await pas.book(bookCommand(legacy)), status).toEqual({ outcome: 'slot-unavailable' });
        }
        expect(await subject.counts()).toEqual(before);
      });

      it('answers slot-not-found for a slot the PAS does not have', async () => {
        const before = await subject.counts();
        const times = DEMO01[100]!;
        expect(await pas.book(bookCommand({ ...times, guid: randomUUID() }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ start: times.start, end: times.end, id: '99999999' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ start: times.start, end: times.end, id: '12abc' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await pas.book(bookCommand({ ...times, guid: 'not-a-guid' }))).toEqual({ outcome: 'slot-not-found' });
        expect(await subject.counts()).toEqual(before);
      });

      it('answers slot-mismatch when the identifier or the times do not match the slot', async () => {
        const slot = takeSlot();
        const row = await slotRow(slot);
        expect(row).toBeDefined();
        const before = await subject.counts();
        const wrongGuid = await pas.book(bookCommand({ ...slot, guid: randomUUID(), id: row?.slotId }));
        expect(wrongGuid).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/identifier/) });
        const early = new Date(Date.parse(slot.start) - 5 * 60_000).toISOString();
        expect(await pas.book(bookCommand({ ...slot, start: early }))).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/within the slot/) });
        const late = new Date(Date.parse(slot.end) + 60_000).toISOString();
        expect(await pas.book(bookCommand({ ...slot, end: late }))).toEqual({ outcome: 'slot-mismatch', reason: expect.stringMatching(/within the slot/) });
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
      });

      it('replays a request id: sameJob for the same job, not for another, writing nothing again', async () => {
        const { cmd, version } = await book();
        const before = await subject.counts();
        // Even a retry naming another slot answers with the original booking.
        const other = takeSlot();
        const again = await pas.book(bookCommand(other, { requestId: cmd.requestId, jobId: cmd.jobId }));
        expect(again).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: cmd.appointmentId, version });
        const elsewhere = await pas.book(bookCommand(other, { requestId: cmd.requestId }));
        expect(elsewhere).toEqual({ outcome: 'replayed', sameJob: false, appointmentId: cmd.appointmentId, version });
        expect(await subject.counts()).toEqual(before);
        expect(await slotRow(other)).toMatchObject({ status: 'free' });

        expect(await pas.findWrite({ requestId: cmd.requestId, jobId: cmd.jobId })).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: cmd.appointmentId, version });
        expect(await pas.findWrite({ requestId: randomUUID(), jobId: cmd.jobId })).toBeNull();
      });

      it('registers a patient without an NHS number under a temporary hospital number', async () => {
        const { cmd } = await book();
        const localNumber = built.get(cmd.appointmentId)?.localNumber;
        expect(localNumber).toMatch(/^T\d{9}$/);
        expect(await subject.legacyRows(cmd.appointmentId)).toMatchObject({ HOSP_NO: localNumber, REG_TYPE: 'T', NHS_NO: null, SURNAME: 'Example', FORENAMES: 'Zoë' });
      });

      it('finds a patient again by NHS number instead of registering them twice', async () => {
        const nhsNumber = randomNhsNumber();
        const first = await book(takeSlot(), { patient: patient(nhsNumber) });
        const before = await subject.counts();
        const second = await book(takeSlot(), { patient: patient(nhsNumber) });
        expect(delta(before, await subject.counts())).toMatchObject({ APPOINTMENT: 1 });
        expect(delta(before, await subject.counts())).not.toHaveProperty('PATIENT');
        expect(built.get(second.cmd.appointmentId)?.localNumber).toBe(built.get(first.cmd.appointmentId)?.localNumber);
        expect(await subject.legacyRows(second.cmd.appointmentId)).toMatchObject({ NHS_NO: nhsNumber });
      });

      it('books one slot once when ten requests race for it', async () => {
        const slot = takeSlot();
        const before = await subject.counts();
        const results = await Promise.all(Array.from({ length: 10 }, () => pas.book(bookCommand(slot))));
        expect(results.filter((r) => r.outcome === 'booked')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'slot-unavailable')).toHaveLength(9);
        expect(delta(before, await subject.counts())).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
      });

      it('books once when ten copies of one request race, answering the others as replays', async () => {
        const cmd = bookCommand(takeSlot());
        const before = await subject.counts();
        const results = await Promise.all(Array.from({ length: 10 }, () => pas.book(cmd)));
        expect(results.filter((r) => r.outcome === 'booked')).toHaveLength(1);
        const replays = results.filter((r) => r.outcome === 'replayed');
        expect(replays).toHaveLength(9);
        for (const r of replays) expect(r).toMatchObject({ sameJob: true, appointmentId: cmd.appointmentId, version: { versionId: '1' } });
        expect(delta(before, await subject.counts())).toEqual({ PATIENT: 1, APPOINTMENT: 1, FHIR_APPOINTMENT: 1, FHIR_APPOINTMENT_VERSION: 1, REQUEST_LOG: 1 });
      });
    });

    describe('cancel', () => {
      it('cancels: version 2 cancelled, the slot free again, version 1 unchanged', async () => {
        const { cmd: booking, slot, version: v1 } = await book();
        const cancel = cancelCommand(v1);
        const result = await pas.cancel(cancel);
        expect(result).toEqual({
          outcome: 'cancelled',
          version: { appointmentId: booking.appointmentId, versionId: '2', lastUpdated: cancel.lastUpdated, status: 'cancelled', current: true, resource: cancel.resource },
        });
        expect(await pas.readAppointment(booking.appointmentId)).toEqual(result.outcome === 'cancelled' ? result.version : undefined);
        const first = await pas.readAppointment(booking.appointmentId, '1');
        expect(first).toMatchObject({ versionId: '1', status: 'booked', current: false, lastUpdated: booking.lastUpdated });
        expect(json(first?.resource)).toBe(json(built.get(booking.appointmentId)?.resource));

        expect(await subject.legacyRows(booking.appointmentId)).toMatchObject({ APPT_STATUS: 'P', SLOT_STATUS: 'F' });
        expect(await subject.requestLog(cancel.requestId)).toEqual({ INTERACTION: 'cancel', JOB_ID: cancel.jobId, APPOINTMENT_ID: booking.appointmentId, VERSION_ID: 2 });
        expect(await slotRow(slot)).toMatchObject({ status: 'free' });
        // Free means bookable: another patient gets the slot.
        expect((await pas.book(bookCommand(slot))).outcome).toBe('booked');
      });

      it('refuses a stale version with version-conflict, writing nothing', async () => {
        const { version } = await book();
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(version, '7'))).toEqual({ outcome: 'version-conflict', currentVersionId: '1' });
        expect(await subject.counts()).toEqual(before);
        expect(await pas.readAppointment(version.appointmentId)).toEqual(version);
      });

      it('answers a second cancel with invalid-state, or version-conflict when it names the old version', async () => {
        const { version } = await book();
        expect((await pas.cancel(cancelCommand(version))).outcome).toBe('cancelled');
        const before = await subject.counts();
        expect(await pas.cancel(cancelCommand(version, '2'))).toEqual({ outcome: 'invalid-state', status: 'cancelled' });
        expect(await pas.cancel(cancelCommand(version, '1'))).toEqual({ outcome: 'version-conflict', currentVersionId: '2' });
        expect(await subject.counts()).toEqual(before);
      });

      it('answers not-found for an unknown appointment', async () => {
        const { version } = await book();
        for (const appointmentId of [randomUUID(), 'x'.repeat(64), '']) {
          expect(await pas.cancel(cancelCommand({ ...version, appointmentId }))).toEqual({ outcome: 'not-found' });
        }
      });

      it('replays a cancel under the same request id', async () => {
        const { version } = await book();
        const cancel = cancelCommand(version);
        const first = await pas.cancel(cancel);
        if (first.outcome !== 'cancelled') throw new Error(json(first));
        const before = await subject.counts();
        expect(await pas.cancel(cancel)).toEqual({ outcome: 'replayed', sameJob: true, appointmentId: version.appointmentId, version: first.version });
        expect(await pas.cancel({ ...cancel, jobId: 'another-job' })).toEqual({ outcome: 'replayed', sameJob: false, appointmentId: version.appointmentId, version: first.version });
        expect(await subject.counts()).toEqual(before);
      });

      it('applies one of several racing cancels; the others see the new version', async () => {
        const { version } = await book();
        const results = await Promise.all(Array.from({ length: 5 }, () => pas.cancel(cancelCommand(version))));
        expect(results.filter((r) => r.outcome === 'cancelled')).toHaveLength(1);
        expect(results.filter((r) => r.outcome !== 'cancelled')).toEqual(Array.from({ length: 4 }, () => ({ outcome: 'version-conflict', currentVersionId: '2' })));
      });
    });

    describe('searchAppointments', () => {
      it("finds a patient's upcoming appointments by NHS number, and one by id, as their current versions", async () => {
        const nhsNumber = randomNhsNumber();
        const [slotA, slotB] = [takeSlot(), takeSlot()].sort((x, y) => x.start.localeCompare(y.start)) as [DemoSlot, DemoSlot];
        const later = await book(slotB, { patient: patient(nhsNumber) });
        const earlier = await book(slotA, { patient: patient(nhsNumber) });
        const now = new Date().toISOString();

        expect(await pas.searchAppointments({ nhsNumber, endedBefore: now, limit: 10 })).toEqual([earlier.version, later.version]);
        expect(await pas.searchAppointments({ nhsNumber, endedBefore: now, limit: 1 })).toEqual([earlier.version]);
        // Appointments that have ended are left out of a patient search.
        expect(await pas.searchAppointments({ nhsNumber, endedBefore: slotB.end, limit: 10 })).toEqual([later.version]);
        expect(await pas.searchAppointments({ nhsNumber: randomNhsNumber(), endedBefore: now, limit: 10 })).toEqual([]);

        const cancelled = await pas.cancel(cancelCommand(later.version));
        if (cancelled.outcome !== 'cancelled') throw new Error(json(cancelled));
        expect(await pas.searchAppointments({ appointmentId: later.cmd.appointmentId, endedBefore: now, limit: 10 })).toEqual([cancelled.version]);
        expect(await pas.searchAppointments({ appointmentId: randomUUID(), endedBefore: now, limit: 10 })).toEqual([]);
      });
    });

    describe('readAppointment', () => {
      it('answers null for an unknown appointment or version, and for a version that is not a number', async () => {
        const { version } = await book();
        expect(await pas.readAppointment(randomUUID())).toBeNull();
        expect(await pas.readAppointment('x'.repeat(64))).toBeNull();
        for (const versionId of ['2', '0', 'abc', '', '1.0', '-1', '99999999999']) {
          expect(await pas.readAppointment(version.appointmentId, versionId), versionId).toBeNull();
        }
        expect(await pas.readAppointment(version.appointmentId, '1')).toEqual(version);
      });

      it('answers ping', async () => {
        await expect(pas.ping()).resolves.toBeUndefined();
      });
    });
  });
}

/** Tables whose row count changed, with the change. */
function delta(before: Counts, after: Counts): Partial<Counts> {
  return Object.fromEntries(TABLES.filter((t) => after[t] !== before[t]).map((t) => [t, after[t] - before[t]]));
}

describePasContract('SQLite', openSqlite);

const mssqlUrl = process.env.PAS_MSSQL_URL;
if (mssqlUrl) {
  describePasContract('SQL Server', openMssql(mssqlUrl));
} else {
  describe.skip('SQL Server contract tests skipped: set PAS_MSSQL_URL=mssql://user:password@host:1433/database?trustServerCertificate=true (a database they may wipe) to run them', () => {
    it('runs the PAS contract against SQL Server', () => undefined);
  });
}
