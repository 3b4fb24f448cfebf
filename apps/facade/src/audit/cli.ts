import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { loadConfig, setting, z } from '@booking/config';
import { queryAudit } from './query.js';

/**
 * Prints audit records as JSON lines:
 *   node --conditions=source --import tsx apps/facade/src/audit/cli.ts --from <iso> --to <iso> [--request-id <id>] [--dir <path>]
 * The directory defaults to AUDIT_DIR (environment or CONFIG_FILE), as the facade uses it.
 */

const USAGE = 'usage: audit --from <ISO time> --to <ISO time> [--request-id <id>] [--dir <AUDIT_DIR>]';

async function main() {
  const { values } = parseArgs({
    options: { from: { type: 'string' }, to: { type: 'string' }, 'request-id': { type: 'string' }, dir: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const time = (name: 'from' | 'to') => {
    const value = values[name];
    if (value === undefined) return undefined;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) throw new Error(`--${name}: not an ISO 8601 time: ${value}`);
    return date;
  };
  const from = time('from');
  const to = time('to');
  if (!from && !to && !values['request-id']) throw new Error(`give a time range, a request id or both\n${USAGE}`);
  const dir = values.dir ?? loadConfig(z.object({ AUDIT_DIR: setting.string('the audit directory').default('data/audit') })).AUDIT_DIR;
  for await (const record of queryAudit(dir, { from, to, requestId: values['request-id'] })) {
    if (!process.stdout.write(`${JSON.stringify(record)}\n`)) await once(process.stdout, 'drain');
  }
}

main().catch((error: Error) => {
  console.error(`audit: ${error.message}`);
  process.exit(2);
});
