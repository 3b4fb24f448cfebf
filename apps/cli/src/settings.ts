import { ConfigError, configFileSettings, type Env, loadConfig, rawSettings, settingDescription, shownValue, type z } from '@booking/config';
import { facadeSchema, loadFacadeConfig } from '@booking/facade/config';
import { securitySetup } from '@booking/facade/security/setup';
import { parseStatusMapping, type StatusMapping } from '@booking/pas';
import { loadWorkerConfig, workerSchema } from '@booking/worker/config';
import { CliError, EXIT } from './exit-codes.js';

/**
 * The CLI reads the very settings the facade and worker read (same zod schemas, same env,
 * CONFIG_FILE and NAME_FILE rules), so what `doctor` accepts is what the processes accept.
 */

export interface SettingProblem {
  /** The setting at fault; absent when the message names none (then the message is all there is). */
  setting?: string;
  message: string;
}

/** The setting a "NAME: message" error names (the config package's convention), if it names one. */
function settingOf(message: string): string | undefined {
  return /^([A-Z][A-Z0-9_]*):/.exec(message)?.[1];
}

/**
 * Every problem of a schema's settings, one per setting (loadConfig stops at the first), then the
 * cross-setting checks of the app's own loader once each setting is valid on its own.
 */
export function settingProblems<S extends z.ZodObject>(schema: S, env: Env, crossChecks: () => void): SettingProblem[] {
  try {
    rawSettings([], env); // CONFIG_FILE readable at all?
  } catch (error) {
    return [problemOf((error as Error).message)];
  }
  const problems: SettingProblem[] = [];
  for (const name of Object.keys(schema.shape)) {
    let raw: string | undefined;
    try {
      raw = rawSettings([name], env)[name];
    } catch (error) {
      problems.push({ setting: `${name}_FILE`, message: (error as Error).message });
      continue;
    }
    const field = schema.shape[name] as z.ZodType;
    const result = field.safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      const got = shownValue(name, raw); // never a secret's value (the config package's rule)
      const description = settingDescription(field);
      problems.push({ setting: name, message: `${name}: ${issue?.message ?? 'invalid'}${description ? ` (expected ${description})` : ''}; got ${got}` });
    }
  }
  if (problems.length > 0) return problems;
  try {
    crossChecks();
  } catch (error) {
    problems.push(problemOf((error as Error).message));
  }
  return problems;
}

function problemOf(message: string): SettingProblem {
  const setting = settingOf(message);
  return setting ? { setting, message } : { message };
}

export function facadeProblems(env: Env): SettingProblem[] {
  return settingProblems(facadeSchema, env, () => {
    securitySetup(loadFacadeConfig(env)); // TLS files, JWT mode: what the facade refuses at startup
  });
}

export function workerProblems(env: Env): SettingProblem[] {
  return settingProblems(workerSchema, env, () => {
    loadWorkerConfig(env); // PAS_MSSQL_URL parsed there, as the adapter parses it
  });
}

/** Every setting some app reads (facade and worker schemas), and the files that can hold them. */
const KNOWN_SETTINGS = new Set([...Object.keys(facadeSchema.shape), ...Object.keys(workerSchema.shape)]);
/** Variables of the product's prefixes read outside the apps' schemas (docker/compose.yaml, the demo, the contract tests). */
const KNOWN_ELSEWHERE = new Set(['CONFIG_FILE', 'FACADE_PUBLISHED_PORT', 'ADMIN_PUBLISHED_PORT', 'PAS_DATABASE', 'PAS_DEMO_SEED', 'PAS_MSSQL_RCSI']);
/**
 * The product's own prefixes (FACADE_, WORKER_, PAS_, QUEUE_, REDIS_, …): the first word of two or
 * more setting names, so a one-off like OTEL_ (the OpenTelemetry SDK's own variables) is not one.
 */
const PRODUCT_PREFIXES = (() => {
  const counts = new Map<string, number>();
  for (const name of KNOWN_SETTINGS) counts.set(name.split('_')[0] as string, (counts.get(name.split('_')[0] as string) ?? 0) + 1);
  return [...counts].filter(([, n]) => n >= 2).map(([prefix]) => `${prefix}_`);
})();

function isKnownSetting(name: string): boolean {
  return KNOWN_SETTINGS.has(name) || KNOWN_SETTINGS.has(name.replace(/_FILE$/, '')) || KNOWN_ELSEWHERE.has(name);
}

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length] as number;
}

/** The known setting closest to a name, when close enough to be a likely typo. */
export function closestSetting(name: string): string | undefined {
  const base = name.replace(/_FILE$/, '');
  let best: { name: string; d: number } | undefined;
  for (const known of KNOWN_SETTINGS) {
    const d = distance(base, known);
    if (!best || d < best.d) best = { name: known, d };
  }
  return best && best.d <= Math.max(2, Math.floor(base.length / 4)) ? `${best.name}${name === base ? '' : '_FILE'}` : undefined;
}

export interface UnknownSetting {
  name: string;
  source: 'CONFIG_FILE' | 'environment';
  closest?: string;
}

/**
 * Settings no app reads: CONFIG_FILE keys, and environment variables with the product's prefixes.
 * The apps ignore them, so a typo (WORKER_CONCURENCY) would silently leave the default in force.
 */
export function unknownSettings(env: Env): UnknownSetting[] {
  let fromFile: Env = {};
  try {
    fromFile = configFileSettings(env);
  } catch {
    // An unreadable CONFIG_FILE is reported with the settings.
  }
  const found: UnknownSetting[] = [];
  const add = (name: string, source: UnknownSetting['source']) => {
    const closest = closestSetting(name);
    found.push({ name, source, ...(closest ? { closest } : {}) });
  };
  for (const name of Object.keys(fromFile).sort()) if (!isKnownSetting(name)) add(name, 'CONFIG_FILE');
  for (const name of Object.keys(env).sort()) if (PRODUCT_PREFIXES.some((p) => name.startsWith(p)) && !isKnownSetting(name) && !isServiceLink(name, env[name])) add(name, 'environment');
  return found;
}

const IP = String.raw`(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)`;
const LINK_URL = new RegExp(String.raw`^(?:tcp|udp|sctp)://(?:${IP}|\[${IP}\]):\d{1,5}$`);
/** Each shape of name Kubernetes uses, with the value it writes there. */
const SERVICE_LINKS: [name: RegExp, value: RegExp][] = [
  [/^[A-Z0-9_]+_SERVICE_HOST$/, new RegExp(`^${IP}$`)],
  [/^[A-Z0-9_]+_SERVICE_PORT(?:_[A-Z0-9_]+)?$/, /^\d{1,5}$/],
  [/^[A-Z0-9_]+_PORT(?:_\d{1,5}_(?:TCP|UDP|SCTP))?$/, LINK_URL],
  [/^[A-Z0-9_]+_PORT_\d{1,5}_(?:TCP|UDP|SCTP)_PROTO$/, /^(?:tcp|udp|sctp)$/],
  [/^[A-Z0-9_]+_PORT_\d{1,5}_(?:TCP|UDP|SCTP)_PORT$/, /^\d{1,5}$/],
  [/^[A-Z0-9_]+_PORT_\d{1,5}_(?:TCP|UDP|SCTP)_ADDR$/, new RegExp(`^${IP}$`)],
];

/**
 * A variable Kubernetes put into the pod for a Service of the namespace (a service link, e.g.
 * REDIS_SERVICE_HOST=10.96.0.10 or REDIS_PORT_6379_TCP=tcp://10.96.0.10:6379): nobody's mistyped setting.
 */
function isServiceLink(name: string, value: string | undefined): boolean {
  return value !== undefined && SERVICE_LINKS.some(([n, v]) => n.test(name) && v.test(value));
}

/** Settings whose shipped defaults are placeholders for the demo: a trust must give its own. */
const PLACEHOLDERS: { app: 'facade' | 'worker'; schema: z.ZodObject; name: string; own: string }[] = [
  { app: 'facade', schema: facadeSchema, name: 'PROVIDER_ASID', own: 'the ASID NHS Digital issued for this endpoint' },
  { app: 'worker', schema: workerSchema, name: 'LOCAL_PATIENT_ID_SYSTEM', own: 'an identifier system URI the trust owns for its hospital numbers' },
  { app: 'worker', schema: workerSchema, name: 'SCHEDULE_ID_SYSTEM', own: 'an identifier system URI the trust owns for its clinic codes' },
];

/** The placeholder settings of these apps still at their shipped (demo) defaults. */
export function placeholderSettings(apps: readonly ('facade' | 'worker')[], env: Env): { setting: string; value: string; own: string }[] {
  const found: { setting: string; value: string; own: string }[] = [];
  for (const p of PLACEHOLDERS) {
    if (!apps.includes(p.app)) continue;
    const field = p.schema.shape[p.name] as z.ZodType;
    let given: unknown;
    try {
      given = field.safeParse(rawSettings([p.name], env)[p.name]).data;
    } catch {
      continue; // an unreadable NAME_FILE is reported with the settings
    }
    const shipped = field.safeParse(undefined).data;
    if (given !== undefined && given === shipped) found.push({ setting: p.name, value: String(given), own: p.own });
  }
  return found;
}

/** One setting's value as the app would see it, or undefined when it is invalid (reported elsewhere). */
export function settingValue<S extends z.ZodObject, K extends keyof S['shape'] & string>(schema: S, name: K, env: Env): z.infer<S>[K] | undefined {
  try {
    const result = (schema.shape[name] as z.ZodType).safeParse(rawSettings([name], env)[name]);
    return result.success ? (result.data as z.infer<S>[K]) : undefined;
  } catch {
    return undefined;
  }
}

/** Where the PAS is: an explicit --sqlite/--mssql, or the worker's PAS settings. */
export type PasTarget = { kind: 'sqlite'; path: string; timeZone: string } | { kind: 'mssql'; connectionString: string; timeZone: string };

const pasSchema = workerSchema.pick({ PAS_ADAPTER: true, PAS_SQLITE_PATH: true, PAS_MSSQL_URL: true, PAS_TIMEZONE: true });

export function pasTarget(options: { sqlite?: string; mssql?: string }, env: Env = process.env): PasTarget {
  if (options.sqlite && options.mssql) throw new CliError(EXIT.USAGE, 'give --sqlite or --mssql, not both');
  let config: z.infer<typeof pasSchema>;
  try {
    config = loadConfig(pasSchema, env);
  } catch (error) {
    throw new CliError(EXIT.CONFIG, `configuration error: ${(error as Error).message}`);
  }
  const timeZone = config.PAS_TIMEZONE;
  if (options.sqlite) return { kind: 'sqlite', path: options.sqlite, timeZone };
  if (options.mssql) return { kind: 'mssql', connectionString: options.mssql, timeZone };
  if (config.PAS_ADAPTER === 'mssql') {
    if (!config.PAS_MSSQL_URL) throw new CliError(EXIT.CONFIG, 'configuration error: PAS_MSSQL_URL: required when PAS_ADAPTER=mssql (or give --mssql)');
    return { kind: 'mssql', connectionString: config.PAS_MSSQL_URL, timeZone };
  }
  return { kind: 'sqlite', path: config.PAS_SQLITE_PATH, timeZone };
}

export { ConfigError };

/** The trust's APPT_STATUS mapping (PAS_APPOINTMENT_STATUS_MAP), as the worker reads it. */
export function statusMapping(env: Env = process.env): StatusMapping {
  const raw = rawSettings(['PAS_APPOINTMENT_STATUS_MAP'], env).PAS_APPOINTMENT_STATUS_MAP;
  try {
    return parseStatusMapping(raw);
  } catch (error) {
    throw new CliError(EXIT.CONFIG, `configuration error: PAS_APPOINTMENT_STATUS_MAP: ${(error as Error).message}`);
  }
}
