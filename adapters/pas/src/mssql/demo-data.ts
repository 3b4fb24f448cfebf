import sql, { type ConnectionPool, type ISqlType } from 'mssql';
import { DEMO_TABLES, type DemoData } from '../demo-data.js';
import { varchar, wallClock } from './values.js';

/** Delete order: the product's rows first, then the legacy rows that they and each other point at. */
const RESET_ORDER = [
  'booking.REQUEST_LOG',
  'booking.FHIR_APPOINTMENT_VERSION',
  'booking.FHIR_APPOINTMENT',
  'APPOINTMENT',
  'PATIENT',
  'CLINIC_SLOT',
  'CLINIC',
  'STAFF',
  'SITE',
  'ORGANISATION',
];

/** SQL Server allows 2,100 parameters a statement. */
const MAX_PARAMETERS = 2000;

function typed(column: string, value: string | null): readonly [ISqlType, unknown] {
  if (column.endsWith('_DTTM')) return [sql.DateTime(), value === null ? null : wallClock(value)];
  if (column === 'SLOT_GUID') return [sql.UniqueIdentifier(), value];
  return varchar(100, value);
}

/**
 * Loads the demo data set into a SQL Server PAS, replacing every earlier row (demo and test
 * databases only), in one transaction. The rows are the ones generateDemoData() made, so SQLite
 * and SQL Server runs see the same slots and GUIDs.
 */
export async function loadDemoDataMssql(pool: ConnectionPool, data: DemoData): Promise<void> {
  const tx = pool.transaction();
  await tx.begin();
  try {
    for (const table of RESET_ORDER) await tx.request().batch(`DELETE FROM ${table};`);
    for (const [table, key] of DEMO_TABLES) {
      const rows = data[key] as Record<string, string | null>[];
      if (rows.length === 0) continue;
      const columns = Object.keys(rows[0] as object);
      const perStatement = Math.min(1000, Math.floor(MAX_PARAMETERS / columns.length)); // and 1,000 rows a VALUES list
      for (let first = 0; first < rows.length; first += perStatement) {
        const request = tx.request();
        const values = rows.slice(first, first + perStatement).map((row, r) => {
          const names = columns.map((column, c) => {
            request.input(`p${r}_${c}`, ...typed(column, row[column] ?? null));
            return `@p${r}_${c}`;
          });
          return `(${names.join(', ')})`;
        });
        await request.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(',\n')};`);
      }
    }
    await tx.commit();
  } catch (error) {
    await tx.rollback().catch(() => undefined);
    throw error;
  }
}
