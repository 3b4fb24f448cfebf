import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * One typed, validated configuration per process. Settings come from environment variables
 * (optionally from a JSON file named by CONFIG_FILE, which the environment overrides). A `*_FILE`
 * variable supplies a secret from a file (Docker/Kubernetes secrets). A wrong or missing value
 * stops startup with one line naming the setting and what is expected.
 */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type Env = Record<string, string | undefined>;

/**
 * Settings whose values are secret (passwords, tokens, keys, passphrases, connection strings that
 * carry a password): their values never appear in any message, whatever went wrong. `doctor`
 * uses the same rule.
 */
export const SECRET_SETTING = /(KEYS?|PASSWORD|TOKEN|PASSPHRASE|SECRET|PAS_MSSQL_URL)$/;

export function isSecretSetting(name: string): boolean {
  return SECRET_SETTING.test(name);
}

/** `scheme://user:password@host` → `scheme://user:***@host` and `Password=…;` → `Password=***;`, wherever they appear. */
export function redactUrlPasswords(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"]*:)[^\s"]*@/gi, '$1***@').replace(/\b(password|pwd)(\s*=\s*)[^;"\s]*/gi, '$1$2***');
}

/** How a setting's value may be shown in a message: never for a secret, passwords of URLs masked otherwise. */
export function shownValue(name: string, value: string | undefined): string {
  if (value === undefined) return 'null';
  return isSecretSetting(name) ? '(hidden)' : redactUrlPasswords(JSON.stringify(value));
}

/** Removes every secret setting's value from a message (defence in depth for messages built elsewhere). */
export function redactSecrets(message: string, settings: Env): string {
  let out = redactUrlPasswords(message);
  for (const [name, value] of Object.entries(settings)) {
    if (!value || !isSecretSetting(name)) continue;
    for (const part of [value, ...value.split(',').map((p) => p.trim())]) if (part.length >= 4) out = out.split(part).join('(hidden)');
  }
  return out;
}

/** Every setting CONFIG_FILE holds (none without one), values as strings; `doctor` also names the keys no app knows. */
export function configFileSettings(env: Env = process.env): Env {
  const fromFile: Env = {};
  if (!env.CONFIG_FILE) return fromFile;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(env.CONFIG_FILE, 'utf8'));
  } catch (error) {
    // JSON.parse quotes the text around a syntax error, which may hold a secret: only the position is kept.
    const where = /position \d+/.exec((error as Error).message)?.[0];
    const why = (error as NodeJS.ErrnoException).code ?? (where ? `not valid JSON at ${where}` : 'not valid JSON');
    throw new ConfigError(`CONFIG_FILE: cannot read ${env.CONFIG_FILE} as JSON (${why})`);
  }
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) fromFile[k] = v === null ? undefined : String(v);
  return fromFile;
}

/**
 * Reads the raw settings. The environment wins over CONFIG_FILE: a setting given there, as `NAME`
 * or as `NAME_FILE`, is taken from there whatever CONFIG_FILE says; only a setting the environment
 * does not give is looked up in CONFIG_FILE. Within one source `NAME_FILE` (a secret file) wins
 * over `NAME`. An empty `NAME` in the environment still counts as given (it unsets the file's value).
 */
export function rawSettings(names: string[], env: Env = process.env): Env {
  const fromFile = configFileSettings(env);
  const settings: Env = {};
  for (const name of names) {
    const given = (source: Env) => Boolean(source[`${name}_FILE`]) || source[name] !== undefined;
    const source = given(env) ? env : fromFile;
    const secretFile = source[`${name}_FILE`];
    if (secretFile) {
      try {
        settings[name] = readFileSync(secretFile, 'utf8').trim();
      } catch {
        throw new ConfigError(`${name}_FILE: cannot read secret file ${secretFile}`);
      }
    } else {
      settings[name] = source[name] === '' ? undefined : source[name];
    }
  }
  return settings;
}

/** A setting's description, looking through .default() and .optional(), which hide it. */
export function settingDescription(field: z.ZodType | undefined): string | undefined {
  let f: unknown = field;
  for (let i = 0; i < 3 && f; i++) {
    const t = f as { description?: string; unwrap?: () => unknown };
    if (t.description) return t.description;
    f = typeof t.unwrap === 'function' ? t.unwrap() : undefined;
  }
  return undefined;
}

/** Parses settings against a zod object schema whose keys are the setting names. */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.infer<S> {
  const picked = rawSettings(Object.keys(schema.shape), env);
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const name = String(issue.path[0] ?? '?');
  const description = settingDescription(schema.shape[name] as z.ZodType | undefined);
  const message = `${name}: ${issue.message}${description ? ` (expected ${description})` : ''}; got ${shownValue(name, picked[name])}${serviceLinkHint(name, picked[name])}`;
  throw new ConfigError(redactSecrets(message, picked));
}

/**
 * Kubernetes writes `<SERVICE>_PORT=tcp://<cluster IP>:<port>` into every pod for each Service of
 * the namespace (service links): a Service named facade sets FACADE_PORT, one named worker-admin
 * WORKER_ADMIN_PORT. Say so, and how to stop it (docs/operations.md, Kubernetes).
 */
function serviceLinkHint(name: string, value: string | undefined): string {
  if (!name.endsWith('_PORT') || !/^(?:tcp|udp|sctp):\/\/\S+:\d+$/.test(value ?? '')) return '';
  const service = name.slice(0, -'_PORT'.length).toLowerCase().replaceAll('_', '-');
  return `: a Kubernetes service link (a Service named ${service}), not a port: set enableServiceLinks: false on the pod`;
}

/** Setting helpers with the coercions environment strings need. */
export const setting = {
  string: (description: string) => z.string().min(1).describe(description),
  /** An absolute URI of any scheme: for identifiers (`https://…`, `urn:oid:…`), never for an address to connect to. */
  url: (description: string) => z.url().describe(description),
  /**
   * An address to serve or connect to over HTTP: a bare `z.url()` takes `host:4318` for scheme
   * `host:`, so a forgotten `https://` would start the process with a URL that reaches nothing.
   */
  httpUrl: (description: string) => z.url({ protocol: /^https?$/, hostname: /./, error: 'must be an http:// or https:// URL with a host name' }).describe(description),
  int: (description: string, min: number, max: number) => z.coerce.number().int().min(min).max(max).describe(description),
  bool: (description: string) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .transform((v) => ['true', '1', 'yes'].includes(v))
      .describe(description),
  oneOf: <T extends readonly [string, ...string[]]>(values: T, description: string) => z.enum(values).describe(description),
};

export { z };
export { type RedisSettings, redisSettings, type SentinelAddress, urlWithCredentials, withRedisLogin } from './redis.js';
