import { readFileSync } from 'node:fs';
import type { ConnectionPool } from 'mssql';

/** The T-SQL the docker image runs at first start; the same files serve tests and the operator CLI. */
const SCHEMA_SCRIPTS = ['01-legacy-schema.sql', '02-booking-schema.sql'].map((f) => new URL(`../../../../docker/pas/${f}`, import.meta.url));
const SEED_SCRIPT = new URL('../../../../docker/pas/03-demo-seed.sql', import.meta.url);

/** Splits a script into batches on its GO lines, as sqlcmd does. */
export function splitBatches(script: string): string[] {
  return script
    .split(/^[ \t]*GO[ \t]*;?[ \t]*\r?$/gim)
    .map((batch) => batch.trim())
    .filter((batch) => batch.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('--')));
}

async function runScript(pool: ConnectionPool, file: URL): Promise<void> {
  for (const batch of splitBatches(readFileSync(file, 'utf8'))) await pool.request().batch(batch);
}

/**
 * Creates the reference legacy schema and the product's "booking" schema where missing (both
 * scripts are idempotent). For demos and tests: never run the legacy part against a trust's PAS.
 */
export async function createMssqlSchema(pool: ConnectionPool): Promise<void> {
  for (const file of SCHEMA_SCRIPTS) await runScript(pool, file);
}

/** Runs docker/pas/03-demo-seed.sql: the demo data set, computed by the server, if not loaded yet. */
export async function seedMssqlDemo(pool: ConnectionPool): Promise<void> {
  await runScript(pool, SEED_SCRIPT);
}
