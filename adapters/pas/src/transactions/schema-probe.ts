import { TransientPasError } from '../port.js';
import { TABLES, type TableRequirement } from '../requirements.js';
import { type Dialect, type PasDatabase, rollback } from '../session.js';

/**
 * What the worker's SQL needs of this PAS and cannot have, one line per table and kind of access;
 * empty when everything is there. Run once at start, so that a release installed before its schema
 * script or grants (docs/install.md §6) stops with one line naming what is missing, instead of
 * answering every booking 500 with "Invalid column name" or "permission denied".
 *
 * Each probe is a statement over exactly the columns the adapter uses that touches no row: the
 * engine still resolves every name and checks every permission. Columns read are probed on every
 * table. Writes are probed on the product's own tables only, inside a transaction that is always
 * rolled back: a zero-row UPDATE or INSERT still fires the PAS's own triggers on a legacy table, so
 * those grants are left to `doctor`, which reads them from the catalogue instead. On SQLite the write
 * probes are not run: it has no grants, so they would find nothing the read probe does not, yet they
 * would take the file's write lock and, while a PAS screen holds it, wait and fail as busy.
 */
export async function probeSchema(db: PasDatabase): Promise<string[]> {
  const lacking: string[] = [];
  for (const { name, access, sql } of schemaProbes(db.dialect, db.dialect.name !== 'sqlite')) {
    try {
      if (access === 'read') await db.read((s) => s.query(sql));
      else await db.transaction(async (s) => rollback(await s.execute(sql)));
    } catch (error) {
      const message = (error as Error).message.split('\n')[0] ?? '';
      // A write refused as read-only is transient while a failover switches primaries, but at start
      // it is far likelier a connection to a readable secondary (ApplicationIntent=ReadOnly) or a
      // standby copy, where every booking would wait out its retries and answer 500 for good.
      if (error instanceof TransientPasError && !(access !== 'read' && /read-only/i.test(message))) throw error; // unreachable or busy: not a finding
      lacking.push(`${name} (${access}): ${message}`);
    }
  }
  return lacking;
}

export interface SchemaProbe {
  name: string;
  access: 'read' | 'insert' | 'update';
  sql: string;
}

/** The probe statements, table by table; `writes` adds the product tables' INSERT and UPDATE probes. */
export function schemaProbes(dialect: Dialect, writes: boolean): SchemaProbe[] {
  return TABLES.flatMap((table) => probes(table, table.product ? dialect.booking(table.name.replace(/^booking\./, '')) : table.name, writes));
}

function probes(table: TableRequirement, name: string, writes: boolean): SchemaProbe[] {
  const list: SchemaProbe[] = [{ name, access: 'read', sql: `SELECT ${table.reads.join(', ')} FROM ${name} WHERE 1 = 0` }];
  if (!table.product || !writes) return list;
  if (table.inserts.length > 0) {
    const columns = table.inserts.join(', ');
    list.push({ name, access: 'insert', sql: `INSERT INTO ${name} (${columns}) SELECT ${columns} FROM ${name} WHERE 1 = 0` });
  }
  if (table.updates.length > 0) list.push({ name, access: 'update', sql: `UPDATE ${name} SET ${table.updates.map((c) => `${c} = ${c}`).join(', ')} WHERE 1 = 0` });
  return list;
}
