import { TABLES } from '@booking/pas';

/**
 * The worker's grants in a T-SQL text (`GRANT SELECT, INSERT ON booking.T (A, B) TO <grantee>;`),
 * as `{ "SELECT booking.T": ["A", "B"] }` with `["*"]` for a whole table; columns sorted. The
 * scripts, compose's login and install.md each write them out, and each must match `grantsNeeded`.
 */
export function grantsIn(text: string, grantee: string): Record<string, string[]> {
  const grants: Record<string, string[]> = {};
  for (const m of text.matchAll(new RegExp(`^\\s*GRANT ([A-Z, ]+) ON (\\w+)\\.(\\w+)(?: \\(([^)]*)\\))? TO ${grantee};\\s*$`, 'gm'))) {
    const [, perms, schema, table, columns] = m as unknown as [string, string, string, string, string | undefined];
    for (const perm of perms.split(',').map((p) => p.trim())) {
      grants[`${perm} ${schema === 'booking' ? 'booking.' : ''}${table}`] = (columns ? columns.split(',').map((c) => c.trim()) : ['*']).sort();
    }
  }
  return grants;
}

/** The grants the adapter needs (@booking/pas TABLES): columns read and updated, whole tables inserted into; the product's own tables read whole. */
export function grantsNeeded(): Record<string, string[]> {
  const needed: Record<string, string[]> = {};
  for (const t of TABLES) {
    needed[`SELECT ${t.name}`] = (t.product ? ['*'] : [...t.reads]).sort();
    if (t.inserts.length) needed[`INSERT ${t.name}`] = ['*'];
    if (t.updates.length) needed[`UPDATE ${t.name}`] = [...t.updates].sort();
  }
  return needed;
}
