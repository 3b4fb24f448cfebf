/**
 * Exit codes scripts can rely on (sysexits.h values where one fits). Every command documents them
 * in its --help; docs/install.md lists them too.
 */
export const EXIT = {
  /** Everything checked out. */
  OK: 0,
  /** A check failed, findings were reported, or a smoke step failed. */
  FAILED: 1,
  /** Unknown command or option, a missing or malformed argument. */
  USAGE: 2,
  /** EX_UNAVAILABLE: Redis, the PAS or the facade could not be reached at all. */
  UNAVAILABLE: 69,
  /** EX_CONFIG: a setting is missing or wrong (the message names it). */
  CONFIG: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0   ok
  1   a check failed or findings were reported
  2   usage error (unknown command or option, bad argument)
  69  service unavailable (Redis, the PAS or the facade could not be reached;
      doctor: when that is all that failed)
  78  configuration error (the message names the setting)`;

/** An error that ends the command with a given exit code and a one-line message (and, where known, what to do). */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}
