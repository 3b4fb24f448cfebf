/** One result line of doctor (and the shape of its --json output). */
export interface CheckResult {
  status: 'ok' | 'warn' | 'fail' | 'skip';
  /** config | redis | pas | clock | audit */
  check: string;
  /** The setting, table or thing the line is about. */
  subject: string;
  message: string;
  /** What to do about it (warn and fail only). */
  fix?: string;
  /** A fail because the service could not be reached at all (doctor exits 69 when only such fails). */
  unreachable?: true;
}

const LABEL: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function printResults(results: CheckResult[], out: (line: string) => void = console.log): void {
  for (const r of results) {
    out(`  ${LABEL[r.status]}  ${r.check.padEnd(7)} ${r.message}`);
    if (r.fix && r.status !== 'ok') out(`              fix: ${r.fix}`);
  }
}

export function summary(results: CheckResult[]): string {
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  return `${count('fail')} failed, ${count('warn')} warning(s), ${count('ok')} ok`;
}
