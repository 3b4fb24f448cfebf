/**
 * The consistency check: what a double booking, a partial write or a lost version would leave
 * behind in the PAS. The SQL is plain enough to run unchanged on SQLite and SQL Server; the
 * caller supplies the table names (the product's own tables live in schema "booking" on SQL Server
 * and carry a "booking_" prefix in the SQLite demo PAS).
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
}

export const SQLITE_TABLES: ProductTables = { appointment: 'booking_FHIR_APPOINTMENT', version: 'booking_FHIR_APPOINTMENT_VERSION', requestLog: 'booking_REQUEST_LOG' };
export const MSSQL_TABLES: ProductTables = { appointment: 'booking.FHIR_APPOINTMENT', version: 'booking.FHIR_APPOINTMENT_VERSION', requestLog: 'booking.REQUEST_LOG' };

export async function checkConsistency(run: QueryRunner, t: ProductTables): Promise<ConsistencyReport> {
  const checks: { check: string; description: string; sql: string }[] = [
    {
      check: 'double-booked-slots',
      description: 'slots holding more than one active (booked) appointment',
      sql: `SELECT SLOT_ID AS k FROM APPOINTMENT WHERE APPT_STATUS = 'B' GROUP BY SLOT_ID HAVING COUNT(*) > 1`,
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
      check: 'writes-without-request-id',
      description: 'appointment versions written by the product with no X-Request-ID recorded for them',
      sql: `SELECT v.APPOINTMENT_ID AS k FROM ${t.version} v LEFT JOIN ${t.requestLog} r ON r.APPOINTMENT_ID = v.APPOINTMENT_ID AND r.VERSION_ID = v.VERSION_ID WHERE r.REQUEST_ID IS NULL`,
    },
    {
      check: 'status-mismatch',
      description: 'FHIR appointment status disagreeing with the legacy appointment or its slot',
      sql: `SELECT a.APPOINTMENT_ID AS k FROM ${t.appointment} a JOIN APPOINTMENT p ON p.APPT_ID = a.PAS_APPT_ID JOIN CLINIC_SLOT s ON s.SLOT_ID = a.SLOT_ID
             WHERE (a.STATUS = 'booked' AND (p.APPT_STATUS <> 'B' OR s.SLOT_STATUS <> 'B')) OR (a.STATUS = 'cancelled' AND p.APPT_STATUS <> 'C')`,
    },
  ];
  const findings: ConsistencyFinding[] = [];
  for (const c of checks) {
    const rows = await run(c.sql);
    if (rows.length > 0) findings.push({ check: c.check, description: c.description, keys: rows.slice(0, 100).map((r) => String(r.k).trim()) });
  }
  const count = async (table: string) => Number((await run(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n ?? 0);
  return {
    ok: findings.length === 0,
    checked: checks.map((c) => c.check),
    findings,
    counts: { appointments: await count(t.appointment), versions: await count(t.version), requests: await count(t.requestLog) },
  };
}
