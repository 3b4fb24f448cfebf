import { once } from 'node:events';
import { statSync } from 'node:fs';
import { loadConfig } from '@booking/config';
import { facadeSchema } from '@booking/facade/config';
import { queryAudit } from '@booking/facade/audit/query';
import { CliError, EXIT, type ExitCode } from '../exit-codes.js';
import { outputClosed } from '../output.js';

export interface AuditOptions {
  from?: string;
  to?: string;
  requestId?: string;
  dir?: string;
}

function time(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new CliError(EXIT.USAGE, `${flag}: not an ISO 8601 time: ${value}`);
  return date;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Prints the facade's audit records (apps/facade/src/audit) as JSON lines, oldest first. */
export async function audit(options: AuditOptions): Promise<ExitCode> {
  const from = time('--from', options.from);
  const to = time('--to', options.to);
  if (!from && !to && !options.requestId) throw new CliError(EXIT.USAGE, 'give a time range (--from/--to), a --request-id, or both');
  if (from && to && from > to) throw new CliError(EXIT.USAGE, `--from (${options.from}) is after --to (${options.to}): no record could match`);
  let dir = options.dir;
  let source = '--dir';
  if (!dir) {
    source = 'AUDIT_DIR';
    try {
      // The facade's own setting and default, read the way the facade reads it.
      dir = loadConfig(facadeSchema.pick({ AUDIT_DIR: true })).AUDIT_DIR;
    } catch (error) {
      throw new CliError(EXIT.CONFIG, `configuration error: ${(error as Error).message}`);
    }
  }
  // A directory that is not there is a wrong setting or argument, never "0 record(s)" (a quiet day).
  if (!isDirectory(dir)) throw new CliError(EXIT.CONFIG, `configuration error: ${source}: no audit directory at ${dir}`);
  let n = 0;
  for await (const record of queryAudit(dir, { from, to, requestId: options.requestId })) {
    if (outputClosed()) break; // the reader went away (`| head`): nothing more to print
    // As the records come: wait when the reader is slower (a pipe), so nothing piles up in memory.
    if (!process.stdout.write(`${JSON.stringify(record)}\n`)) await once(process.stdout, 'drain');
    n++;
  }
  // main exits the process on return: everything written must be out first.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  console.error(`audit: ${n} record(s) from ${dir}`);
  return EXIT.OK;
}
