import type Database from 'better-sqlite3';
import { DEMO_TABLES, type DemoData } from '../demo-data.js';

/** Loads the demo data set into a SQLite PAS, replacing any earlier demo rows, in one transaction. */
export function loadDemoDataSqlite(db: Database.Database, data: DemoData): void {
  db.transaction(() => {
    for (const table of ['booking_REQUEST_LOG', 'booking_FHIR_APPOINTMENT_VERSION', 'booking_FHIR_APPOINTMENT', 'APPOINTMENT', 'PATIENT', 'CLINIC_SLOT', 'CLINIC', 'STAFF', 'SITE', 'ORGANISATION']) {
      db.prepare(`DELETE FROM ${table}`).run();
    }
    for (const [table, key] of DEMO_TABLES) {
      const rows = data[key] as Record<string, unknown>[];
      if (rows.length === 0) continue;
      const columns = Object.keys(rows[0] as object);
      const insert = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
      for (const row of rows) insert.run(row);
    }
  })();
}
