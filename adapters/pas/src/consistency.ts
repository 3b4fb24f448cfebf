import { DEFAULT_STATUS_MAPPING, legacyStatus, type StatusMapping } from './appointment-status.js';
import { LocalClock } from './local-time.js';
import { type Dialect, legacyCode, mssqlDialect, sqliteDialect } from './session.js';
import { goneRowLeavesVersion, sameSecond } from './transactions/compose.js';

/**
 * The consistency check: what a double booking, a partial write, a lost version or a write that
 * undid a PAS-side change would leave behind. The SQL is plain enough to run unchanged on SQLite
 * and SQL Server; the caller supplies the table names (the product's own tables live in schema
 * "booking" on SQL Server and carry a "booking_" prefix in the SQLite demo PAS). Comparing the
 * stored versions with the PAS rows is done here in TypeScript, with the same local-time rules
 * as the adapters, so no dialect's JSON or date functions are needed.
 */

export interface ConsistencyFinding {
  check: string;
  /** What is wrong and what to look at. */
  description: string;
  /** Offending keys (slot ids, appointment ids, request ids), at most 100. */
  keys: string[];
}

export interface ConsistencyReport {
  ok: boolean;
  checked: string[];
  findings: ConsistencyFinding[];
  counts: { appointments: number; versions: number; requests: number };
}

export type QueryRunner = (sql: string) => Promise<Record<string, unknown>[]>;

export interface ProductTables {
  appointment: string;
  version: string;
  requestLog: string;
  /** Row limits for the paged reads (TOP on SQL Server, LIMIT in SQLite). */
  dialect: Pick<Dialect, 'top' | 'limit'>;
}

export const SQLITE_TABLES: ProductTables = { appointment: 'booking_FHIR_APPOINTMENT', version: 'booking_FHIR_APPOINTMENT_VERSION', requestLog: 'booking_REQUEST_LOG', dialect: sqliteDialect };
export const MSSQL_TABLES: ProductTables = { appointment: 'booking.FHIR_APPOINTMENT', version: 'booking.FHIR_APPOINTMENT_VERSION', requestLog: 'booking.REQUEST_LOG', dialect: mssqlDialect };

/** Stored versions read per query: a few MB of JSON at most, whatever the number of appointments. */
export const CONSISTENCY_PAGE_SIZE = 500;

export interface ConsistencyOptions {
  /** The PAS local time zone (PAS_TIMEZONE). */
  timeZone?: string;
  /**
   * The trust's APPT_STATUS mapping. Codes it maps to cancelled no longer hold their slot; every
   * other code, unknown ones too, does. An unknown code is never reported as a disagreement: the
   * adapter reads it in its documented safe way, which this check does not second-guess.
   */
  statusMapping?: StatusMapping;
  /** Stored versions compared per query (default CONSISTENCY_PAGE_SIZE). */
  pageSize?: number;
}

/** A legacy code as a SQL literal (the mapping allows letters and digits only; anything else is refused, not quoted). */
function codeLiteral(code: string): string {
  if (!/^[A-Za-z0-9]{1,10}$/.test(code)) throw new Error(`consistency: unexpected legacy status code ${JSON.stringify(code)}`);
  return `'${code}'`;
}

export async function checkConsistency(run: QueryRunner, t: ProductTables, options: ConsistencyOptions = {}): Promise<ConsistencyReport> {
  const mapping = options.statusMapping ?? DEFAULT_STATUS_MAPPING;
  const cancelled = mapping.cancelledCodes.map(codeLiteral);
  // A live legacy appointment holds its slot: anything not cancelled (attended and no-show too).
  // Codes compared trimmed and upper-cased, exactly as the adapters compare them.
  const live = (alias: string) => (cancelled.length ? `${legacyCode(`${alias}.APPT_STATUS`)} NOT IN (${cancelled.join(', ')})` : '1 = 1');
  const checks: { check: string; description: string; sql: string }[] = [
    {
      check: 'double-booked-slots',
      description: 'slots held by more than one live (not cancelled) legacy appointment',
      sql: `SELECT p.SLOT_ID AS k FROM APPOINTMENT p WHERE ${live('p')} GROUP BY p.SLOT_ID HAVING COUNT(*) > 1`,
    },
    {
      // Only slots some appointment once held: a slot the PAS marked busy by other means is its own business.
      check: 'busy-slots-without-appointment',
      description: 'slots marked busy (B) whose appointments were all cancelled or moved away: no live appointment holds them',
      sql: `SELECT s.SLOT_ID AS k FROM CLINIC_SLOT s WHERE s.SLOT_STATUS = 'B'
             AND EXISTS (SELECT 1 FROM APPOINTMENT h WHERE h.SLOT_ID = s.SLOT_ID)
             AND NOT EXISTS (SELECT 1 FROM APPOINTMENT p WHERE p.SLOT_ID = s.SLOT_ID AND ${live('p')})`,
    },
    {
      check: 'live-appointments-in-free-slots',
      description: 'live legacy appointments (APPT_ID) whose slot is marked free: the next booking would put a second patient in it',
      sql: `SELECT p.APPT_ID AS k FROM APPOINTMENT p JOIN CLINIC_SLOT s ON s.SLOT_ID = p.SLOT_ID WHERE s.SLOT_STATUS = 'F' AND ${live('p')}`,
    },
    {
      check: 'appointments-without-current-version',
      description: 'FHIR appointments whose current version is missing',
      sql: `SELECT a.APPOINTMENT_ID AS k FROM ${t.appointment} a LEFT JOIN ${t.version} v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID AND v.VERSION_ID = a.CURRENT_VERSION WHERE v.APPOINTMENT_ID IS NULL`,
    },
    {
      check: 'appointments-with-missing-versions',
      description: 'FHIR appointments whose stored versions are not exactly 1..current',
      sql: `SELECT a.APPOINTMENT_ID AS k FROM ${t.appointment} a LEFT JOIN ${t.version} v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID GROUP BY a.APPOINTMENT_ID, a.CURRENT_VERSION HAVING COUNT(v.VERSION_ID) <> a.CURRENT_VERSION OR MAX(v.VERSION_ID) <> a.CURRENT_VERSION`,
    },
    {
      check: 'orphaned-request-ids',
      description: 'recorded X-Request-IDs pointing at no stored appointment version',
      sql: `SELECT r.REQUEST_ID AS k FROM ${t.requestLog} r LEFT JOIN ${t.version} v ON v.APPOINTMENT_ID = r.APPOINTMENT_ID AND v.VERSION_ID = r.VERSION_ID WHERE v.APPOINTMENT_ID IS NULL`,
    },
    {
      // Later versions may come from the PAS (found by a read or the reconciler): no request id for those.
      check: 'writes-without-request-id',
      description: 'appointments booked by the product (version 1) with no X-Request-ID recorded for the booking',
      sql: `SELECT v.APPOINTMENT_ID AS k FROM ${t.version} v LEFT JOIN ${t.requestLog} r ON r.APPOINTMENT_ID = v.APPOINTMENT_ID AND r.VERSION_ID = v.VERSION_ID WHERE v.VERSION_ID = 1 AND r.REQUEST_ID IS NULL`,
    },
  ];
  const findings: ConsistencyFinding[] = [];
  const found = (check: string, description: string, keys: string[]) => {
    if (keys.length > 0) findings.push({ check, description, keys: keys.slice(0, 100) });
  };
  for (const c of checks) {
    const rows = await run(c.sql);
    found(c.check, c.description, rows.map((r) => String(r.k).trim()));
  }

  const pageSize = options.pageSize ?? CONSISTENCY_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new Error(`consistency: page size must be a positive integer, not ${pageSize}`);
  const versions = await compareVersionsWithPas(run, t, mapping, new LocalClock(options.timeZone ?? 'Europe/London'), pageSize);
  found('versions-disagreeing-with-pas', 'FHIR appointments whose latest version disagrees with the PAS rows (status, start, end or slot): the next read or reconciler sweep records the change', versions.disagreeing);
  found('versions-with-dangling-slot-reference', 'FHIR appointments whose latest version has an Appointment.slot reference that resolves to no contained Slot (an invalid resource)', versions.dangling);

  const count = async (table: string) => Number((await run(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n ?? 0);
  return {
    ok: findings.length === 0,
    checked: [...checks.map((c) => c.check), 'versions-disagreeing-with-pas', 'versions-with-dangling-slot-reference'],
    findings,
    counts: { appointments: await count(t.appointment), versions: await count(t.version), requests: await count(t.requestLog) },
  };
}

/** An appointment id as a SQL string literal (ids are the product's own UUIDs; quotes doubled all the same). */
const keyLiteral = (id: string) => `'${id.replace(/'/g, "''")}'`;

/**
 * Latest stored version vs the legacy appointment row it came from (a missing row disagrees too).
 * Read in pages by appointment id (keyset, as the reconciler pages): each stored version is a few KB
 * of JSON and a busy trust has tens of thousands, more than a small heap holds at once.
 */
async function compareVersionsWithPas(run: QueryRunner, t: ProductTables, mapping: StatusMapping, clock: LocalClock, pageSize: number): Promise<{ disagreeing: string[]; dangling: string[] }> {
  const keys: string[] = [];
  const dangling: string[] = [];
  // Only the first 100 keys of a finding are reported: keep no more.
  const note = (list: string[], id: string) => {
    if (list.length < 100) list.push(id);
  };
  let after: string | undefined;
  for (;;) {
    const rows = await run(
      `SELECT ${t.dialect.top(String(pageSize))} a.APPOINTMENT_ID AS id, v.RESOURCE_JSON AS json, p.APPT_ID AS pasId, p.APPT_STATUS AS code, p.SLOT_ID AS slotId, p.START_DTTM AS startLocal, p.END_DTTM AS endLocal, s.SLOT_GUID AS slotGuid
         FROM ${t.appointment} a
         JOIN ${t.version} v ON v.APPOINTMENT_ID = a.APPOINTMENT_ID AND v.VERSION_ID = a.CURRENT_VERSION
         LEFT JOIN APPOINTMENT p ON p.APPT_ID = a.PAS_APPT_ID
         LEFT JOIN CLINIC_SLOT s ON s.SLOT_ID = p.SLOT_ID
        ${after === undefined ? '' : `WHERE a.APPOINTMENT_ID > ${keyLiteral(after)}`}
        ORDER BY a.APPOINTMENT_ID ${t.dialect.limit(String(pageSize))}`,
    );
    for (const row of rows) {
      const id = String(row.id).trim();
      const verdict = compareRow(row, mapping, clock);
      if (verdict.disagrees) note(keys, id);
      if (verdict.dangling) note(dangling, id);
    }
    if (rows.length < pageSize) break;
    // The next page starts after this one's last id, exactly as the engine stored and ordered it.
    const last = String(rows[rows.length - 1]?.id);
    if (last === after) break;
    after = last;
  }
  return { disagreeing: keys, dangling };
}

function compareRow(row: Record<string, unknown>, mapping: StatusMapping, clock: LocalClock): { disagrees: boolean; dangling: boolean } {
  let resource: StoredAppointment;
  try {
    resource = JSON.parse(String(row.json));
  } catch {
    return { disagrees: true, dangling: false };
  }
  // The legacy row gone: agreed when compose leaves the version standing (final, or begun and since
  // archived); before that, a read would record entered-in-error.
  if (row.pasId === null || row.pasId === undefined) return { disagrees: !goneRowLeavesVersion(String(resource.status), resource.start), dangling: false };
  const expectedStatus = legacyStatus(mapping, String(row.code))?.status;
  // To the second, as compose compares: a booking's milliseconds never make a version.
  const sameInstant = (stored: string | undefined, local: unknown) => sameSecond(stored, clock.toInstant(local as string | Date));
  const disagrees =
    (expectedStatus !== undefined && resource.status !== expectedStatus) ||
    !sameInstant(resource.start, row.startLocal) ||
    !sameInstant(resource.end, row.endLocal) ||
    !sameSlot(resource, String(row.slotId).trim(), String(row.slotGuid ?? '').trim().toLowerCase());
  return { disagrees, dangling: danglingSlotReference(resource) };
}

interface StoredAppointment {
  status?: string;
  start?: string;
  end?: string;
  slot?: { reference?: string }[];
  contained?: { resourceType?: string; id?: string; identifier?: { value?: string }[] }[];
}

/**
 * Whether the version's slot is the PAS appointment's slot: a `Slot/{id}` reference, or a contained
 * Slot (as the Booking API sends it) known by its identifier (the legacy SLOT_GUID) or else its id.
 */
function sameSlot(resource: StoredAppointment, slotId: string, slotGuid: string): boolean {
  const reference = resource.slot?.[0]?.reference;
  if (!reference) return false;
  if (!reference.startsWith('#')) return reference === `Slot/${slotId}`;
  // A dangling reference is reported on its own; the PAS comparison then uses the one contained Slot.
  const slots = resource.contained?.filter((r) => r.resourceType === 'Slot') ?? [];
  const contained = slots.find((r) => r.id === reference.slice(1)) ?? (slots.length === 1 ? slots[0] : undefined);
  if (!contained) return false;
  const guid = contained.identifier?.[0]?.value?.toLowerCase();
  return guid ? guid === slotGuid : contained.id === slotId;
}

/** A `#id` slot reference with no contained resource of that id. */
function danglingSlotReference(resource: StoredAppointment): boolean {
  const reference = resource.slot?.[0]?.reference;
  return reference?.startsWith('#') === true && !resource.contained?.some((r) => r.id === reference.slice(1));
}
