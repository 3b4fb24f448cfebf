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

/** Reads the raw settings: CONFIG_FILE JSON, then the environment; `NAME_FILE` supplies NAME. */
export function rawSettings(names: string[], env: Env = process.env): Env {
  const fromFile: Env = {};
  if (env.CONFIG_FILE) {
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
  }
  const merged: Env = { ...fromFile, ...env };
  const settings: Env = {};
  for (const name of names) {
    const secretFile = merged[`${name}_FILE`];
    if (secretFile) {
      try {
        settings[name] = readFileSync(secretFile, 'utf8').trim();
      } catch {
        throw new ConfigError(`${name}_FILE: cannot read secret file ${secretFile}`);
      }
    } else {
      settings[name] = merged[name] === '' ? undefined : merged[name];
    }
  }
  return settings;
}

/**
 * A URL with a user name and password put in (both percent-encoded), so that a password can come
 * from its own secret file (REDIS_PASSWORD_FILE) rather than sit inside a URL setting.
 */
export function urlWithCredentials(url: string, username: string | undefined, password: string | undefined): string {
  if (!username && !password) return url;
  const u = new URL(url);
  if (username) u.username = encodeURIComponent(username);
  if (password) u.password = encodeURIComponent(password);
  return u.toString();
}

/** Parses settings against a zod object schema whose keys are the setting names. */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.infer<S> {
  const picked = rawSettings(Object.keys(schema.shape), env);
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const name = String(issue.path[0] ?? '?');
  const description = (schema.shape[name] as z.ZodType | undefined)?.description;
  const message = `${name}: ${issue.message}${description ? ` (expected ${description})` : ''}; got ${shownValue(name, picked[name])}`;
  throw new ConfigError(redactSecrets(message, picked));
}

/** Setting helpers with the coercions environment strings need. */
export const setting = {
  string: (description: string) => z.string().min(1).describe(description),
  url: (description: string) => z.url().describe(description),
  int: (description: string, min: number, max: number) => z.coerce.number().int().min(min).max(max).describe(description),
  bool: (description: string) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .transform((v) => ['true', '1', 'yes'].includes(v))
      .describe(description),
  oneOf: <T extends readonly [string, ...string[]]>(values: T, description: string) => z.enum(values).describe(description),
};

export { z };
