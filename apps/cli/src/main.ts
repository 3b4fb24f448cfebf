#!/usr/bin/env node
/**
 * booking-facade: the operator CLI for trust IT. One command, subcommands for what an installer
 * and an on-call engineer need: doctor, smoke, demo-data, consistency, audit, and `pas` (the demo
 * PAS's own screens).
 * Settings come from the environment (and CONFIG_FILE, NAME_FILE) exactly as for the facade and worker.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CliError, EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';
import { keepRunningWhenOutputCloses } from './output.js';

const program = new Command();

/** The consumer the `token` command speaks for: clearly a demo, never a real organisation. */
const DEMO_CONSUMER = {
  iss: 'https://demo-consumer.example.nhs.uk/',
  sub: 'demo-user',
  device: { system: 'https://demo-consumer.example.nhs.uk/Id/device', value: 'demo', model: 'Demo consumer' },
  organization: { name: 'Demo 111 Service', ods: 'DEMO1' },
};
/** apps/cli/package.json, one level up from both src/ and dist/. */
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** --audience of `token`: an empty value (a shell variable that is not set) would make a token no facade accepts. */
function audience(value: string): string {
  if (!value.trim()) throw new InvalidArgumentError('expected the facade service root (FACADE_BASE_URL), got an empty value');
  return value;
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return Number(value);
}

/** Commander settings every command shares: our exit codes instead of process.exit(1). */
function configure(command: Command): Command {
  return command.exitOverride().showHelpAfterError('(add --help for usage)').addHelpText('after', EXIT_CODES_HELP);
}

configure(program)
  .name('booking-facade')
  .description('Operator commands for the NHS Booking API facade: check an installation, smoke-test it, load demo data, check PAS consistency, read the audit trail, play the demo PAS\u2019s own screens.')
  .version(version, '-V, --version')
  .addHelpText('after', '\nSettings are read from the environment, CONFIG_FILE and NAME_FILE secrets, as the facade and worker read them.');

configure(program.command('doctor'))
  .description('check the configuration, Redis, the PAS schema and grants, and clock skew; prints what to fix')
  .addOption(new Option('--app <app>', 'whose settings to check').choices(['facade', 'worker', 'all']).default('all'))
  .option('--max-skew <seconds>', 'warn when a clock differs from this machine by more', positiveInt, 5)
  .option('--json', 'machine-readable output', false)
  .action(async (o: { app: 'facade' | 'worker' | 'all'; maxSkew: number; json: boolean }) => {
    const { doctor } = await import('./commands/doctor.js');
    return done(await doctor({ app: o.app, json: o.json, maxSkewSeconds: o.maxSkew }));
  });

configure(program.command('smoke'))
  .description('run the consumer journey against a deployed facade: metadata, slot search, book a SMOKETEST patient, read, cancel (always cleans up)')
  .requiredOption('--base-url <url>', 'the facade service root, e.g. https://booking.trust.nhs.uk/STU3/1')
  .option('--audience <url>', 'JWT aud if it differs from --base-url (the root published in SDS); empty = --base-url')
  .option('--asid <asid>', 'Ssp-To: the provider ASID (PROVIDER_ASID)', '200000000359')
  .option('--from-asid <asid>', 'Ssp-From: the consumer ASID', '200000000115')
  .option('--service <id>', 'the DoS service id to search', '999999999')
  .option('--nhs-number <n>', 'test patient NHS number (default: 9990000018, from the 999 test range)')
  .option('--zone <iana>', 'time zone of the search window (tomorrow to +4 days)', 'Europe/London')
  .option('--cert <file>', 'client certificate, PEM (mutual TLS)')
  .option('--key <file>', 'client private key, PEM (mutual TLS)')
  .option('--ca <file>', 'CA bundle to verify the facade\u2019s certificate, PEM')
  .option('--timeout <ms>', 'per-request timeout', positiveInt, 15000)
  .option('--json', 'machine-readable output', false)
  .action(async (o: { baseUrl: string; audience?: string; asid: string; fromAsid: string; service: string; nhsNumber?: string; zone: string; cert?: string; key?: string; ca?: string; timeout: number; json: boolean }) => {
    const { smoke } = await import('./commands/smoke.js');
    return done(await smoke({ ...o, timeoutMs: o.timeout }));
  });

configure(program.command('demo-data'))
  .description('load the demo data set into a PAS (demo and test databases only: replaces every PAS row)')
  .option('--slots <n>', 'free slots for service 999999999', positiveInt, 160)
  .option('--sqlite <path>', 'a SQLite PAS file (default: the configured PAS)')
  .option('--mssql <url>', 'a SQL Server PAS connection string (default: the configured PAS)')
  .option('--force', 'overwrite a PAS that holds non-demo clinics, appointments or patients', false)
  .action(async (o: { slots: number; sqlite?: string; mssql?: string; force: boolean }) => {
    const { demoData } = await import('./commands/demo-data.js');
    return done(await demoData(o));
  });

configure(program.command('consistency'))
  .description('check the PAS for double-booked slots, busy slots with no live appointment, partial writes, lost versions and versions disagreeing with the PAS rows (read-only)')
  .option('--sqlite <path>', 'a SQLite PAS file (default: the configured PAS)')
  .option('--mssql <url>', 'a SQL Server PAS connection string (default: the configured PAS)')
  .option('--json', 'machine-readable output', false)
  .action(async (o: { sqlite?: string; mssql?: string; json: boolean }) => {
    const { consistency } = await import('./commands/consistency.js');
    return done(await consistency(o));
  });

const pas = configure(program.command('pas'))
  .description('play the PAS\u2019s own screens against the demo PAS (legacy tables only): cancel, move, walk-in, arrive, attend, did-not-attend, withdraw-slot')
  .addHelpText('after', `
A change made here is what a clerk would do in the PAS; the next API read of the appointment shows it
as a new version (meta.versionId moves on). Example, after booking through the API:
  npm run cli -- pas cancel <appointment id> --by hospital
Refuses a PAS holding clinics that are not demo data, unless --force.`);

/** Options every PAS screen shares. */
function pasScreenCommand(name: string, description: string): Command {
  return configure(pas.command(name))
    .description(description)
    .option('--sqlite <path>', 'a SQLite PAS file (default: the configured PAS)')
    .option('--mssql <url>', 'a SQL Server PAS connection string (default: the configured PAS)')
    .option('--force', 'act on a PAS that holds non-demo clinics (demo and test databases only)', false)
    .option('--json', 'machine-readable output', false)
    .addHelpText('after', '\nExit code 1 also means the PAS refused the action: the row is not in a state it applies to (the message says why).');
}

type ScreenOptions = { sqlite?: string; mssql?: string; force: boolean; json: boolean };
async function screen(request: import('./commands/pas-screens.js').PasAction, o: ScreenOptions) {
  const { pasScreen } = await import('./commands/pas-screens.js');
  return done(await pasScreen(request, o));
}

function slotId(value: string): string {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a slot id (the Slot\u2019s logical id, digits)');
  return value;
}

pasScreenCommand('cancel', 'cancel an appointment as the PAS does (APPT_STATUS P or H, its slot freed)')
  .argument('<appointmentId>', 'the FHIR Appointment id')
  .addOption(new Option('--by <who>', 'who cancelled: the patient (P) or the hospital (H)').choices(['patient', 'hospital']).default('patient'))
  .action((appointmentId: string, o: ScreenOptions & { by: 'patient' | 'hospital' }) => screen({ action: 'cancel', appointmentId, by: o.by }, o));
pasScreenCommand('move', 'move an appointment to another free slot (new slot booked, old slot freed)')
  .argument('<appointmentId>', 'the FHIR Appointment id')
  .argument('<toSlotId>', 'the free slot to move it to (Slot id)', slotId)
  .action((appointmentId: string, toSlotId: string, o: ScreenOptions) => screen({ action: 'move', appointmentId, toSlotId }, o));
pasScreenCommand('walk-in', 'book a walk-in patient (made up, local) into a free slot')
  .argument('<slotId>', 'the free slot (Slot id)', slotId)
  .action((id: string, o: ScreenOptions) => screen({ action: 'walk-in', slotId: id }, o));
for (const [name, what] of [
  ['arrive', 'record that the patient arrived (APPT_STATUS A)'],
  ['attend', 'record that the patient was seen (APPT_STATUS S)'],
  ['did-not-attend', 'record that the patient did not attend (APPT_STATUS D)'],
] as const) {
  pasScreenCommand(name, what)
    .argument('<appointmentId>', 'the FHIR Appointment id')
    .action((appointmentId: string, o: ScreenOptions) => screen({ action: name, appointmentId }, o));
}
pasScreenCommand('withdraw-slot', 'withdraw a slot (SLOT_STATUS U: no longer bookable)')
  .argument('<slotId>', 'the slot (Slot id)', slotId)
  .action((id: string, o: ScreenOptions) => screen({ action: 'withdraw-slot', slotId: id }, o));

configure(program.command('token'))
  .description('print a fresh unsigned SSP-style JWT (valid 5 minutes) for trying the API by hand, e.g. with curl')
  .argument('<scope>', 'organization/slot.read, patient/appointment.read or patient/appointment.write')
  .requiredOption('--audience <url>', 'the facade service root (the JWT aud)', audience)
  .action(async (scope: string, o: { audience: string }) => {
    const { unsignedJwt } = await import('./consumer.js');
    process.stdout.write(unsignedJwt(o.audience, scope, DEMO_CONSUMER));
    return done(EXIT.OK);
  });

configure(program.command('audit'))
  .description('print the facade\u2019s audit records (JSON lines) for a time range and/or a request id')
  .option('--from <time>', 'ISO 8601 start (inclusive)')
  .option('--to <time>', 'ISO 8601 end (inclusive)')
  .option('--request-id <id>', 'our request id, the consumer\u2019s X-Request-ID or the X-Correlation-ID')
  .option('--dir <path>', 'the audit directory (default: AUDIT_DIR)')
  .action(async (o: { from?: string; to?: string; requestId?: string; dir?: string }) => {
    const { audit } = await import('./commands/audit.js');
    return done(await audit(o));
  });

keepRunningWhenOutputCloses();

let exitCode: ExitCode = EXIT.OK;
function done(code: ExitCode): void {
  exitCode = code;
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are successes; everything else commander refuses is a usage error.
    exitCode = ['commander.helpDisplayed', 'commander.version'].includes(error.code) ? EXIT.OK : EXIT.USAGE;
  } else if (error instanceof CliError) {
    console.error(`booking-facade: ${error.message}${error.fix ? `\n  fix: ${error.fix}` : ''}`);
    exitCode = error.exitCode;
  } else {
    console.error(`booking-facade: unexpected error: ${(error as Error).stack ?? error}`);
    exitCode = EXIT.FAILED;
  }
}
// Open sockets (Redis, keep-alive HTTP) must not keep an operator's terminal waiting.
process.exit(exitCode);
