import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AUDIT_FILE, type AuditRecord } from './log.js';

/**
 * Reading the audit trail back: records in a time range (inclusive), optionally only those of one
 * request id (ours, the consumer's X-Request-ID or the X-Correlation-ID). Only the day files the
 * range covers are opened; a torn line left by a crash is skipped.
 *
 * Streamed, so a busy day (hundreds of thousands of records) needs no more memory than a quiet one:
 * each process appends its own file in time order (AuditLog stamps a record and queues it in the
 * same tick, and writes its queue in order), so the files of a day are merged as they are read,
 * holding one record per file. Equal times come file by file in name order, then line order.
 */

export interface AuditQuery {
  from?: Date;
  to?: Date;
  requestId?: string;
}

/** The lines of one audit file (a parameter so tests can watch how far each file has been read). */
export type LineReader = (file: string) => AsyncIterable<string>;

export async function* queryAudit(dir: string, query: AuditQuery = {}, lines: LineReader = fileLines): AsyncGenerator<AuditRecord> {
  const from = query.from?.toISOString() ?? '';
  const to = query.to?.toISOString() ?? '\uffff';
  const byDay = new Map<string, string[]>();
  for (const name of auditFileNames(dir)) {
    const day = AUDIT_FILE.exec(name)?.[1];
    if (!day || day < from.slice(0, 10) || day > to.slice(0, 10)) continue;
    byDay.set(day, [...(byDay.get(day) ?? []), join(dir, name)]);
  }
  const wanted = (record: AuditRecord) => record.time >= from && record.time <= to && matches(record, query.requestId);
  for (const day of [...byDay.keys()].sort()) {
    // Several processes write a day each in its own file: merge them by time.
    const sources = (byDay.get(day) ?? []).map((file) => records(lines(file), wanted)[Symbol.asyncIterator]());
    try {
      const heads = await Promise.all(sources.map((s) => s.next()));
      for (;;) {
        // The earliest head; on a tie the first file's (strict <), as a stable sort would order them.
        let at = -1;
        for (let i = 0; i < heads.length; i++) {
          const head = heads[i] as IteratorResult<AuditRecord>;
          if (!head.done && (at < 0 || head.value.time < (heads[at] as IteratorYieldResult<AuditRecord>).value.time)) at = i;
        }
        if (at < 0) break;
        yield (heads[at] as IteratorYieldResult<AuditRecord>).value;
        heads[at] = await (sources[at] as AsyncIterator<AuditRecord>).next();
      }
    } finally {
      // Also when the caller stops early: close every file of the day.
      await Promise.all(sources.map((s) => s.return?.(undefined)));
    }
  }
}

/** The directory's file names, sorted; a directory that is not there is an error, never "no records" (a typo would look like a quiet day). */
function auditFileNames(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' || code === 'ENOTDIR' ? `no audit directory at ${dir}` : `cannot read the audit directory ${dir} (${code ?? (error as Error).message})`);
  }
}

async function* fileLines(file: string): AsyncGenerator<string> {
  const input = createReadStream(file, 'utf8');
  try {
    yield* createInterface({ input, crlfDelay: Infinity });
  } finally {
    input.destroy();
  }
}

async function* records(lines: AsyncIterable<string>, wanted: (record: AuditRecord) => boolean): AsyncGenerator<AuditRecord> {
  for await (const line of lines) {
    const record = parse(line);
    if (record && wanted(record)) yield record;
  }
}

function parse(line: string): AuditRecord | undefined {
  if (!line.trim()) return undefined;
  try {
    const value = JSON.parse(line) as AuditRecord;
    return typeof value?.time === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function matches(record: AuditRecord, requestId: string | undefined): boolean {
  return requestId === undefined || [record.requestId, record.consumerRequestId, record.correlationId].includes(requestId);
}
