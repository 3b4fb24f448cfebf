import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AUDIT_FILE, type AuditRecord } from './log.js';

/**
 * Reading the audit trail back: records in a time range (inclusive), optionally only those of one
 * request id (ours, the consumer's X-Request-ID or the X-Correlation-ID). Only the day files the
 * range covers are opened; a torn line left by a crash is skipped.
 */

export interface AuditQuery {
  from?: Date;
  to?: Date;
  requestId?: string;
}

export async function* queryAudit(dir: string, query: AuditQuery = {}): AsyncGenerator<AuditRecord> {
  const from = query.from?.toISOString() ?? '';
  const to = query.to?.toISOString() ?? '\uffff';
  const byDay = new Map<string, string[]>();
  for (const name of existsSync(dir) ? readdirSync(dir).sort() : []) {
    const day = AUDIT_FILE.exec(name)?.[1];
    if (!day || day < from.slice(0, 10) || day > to.slice(0, 10)) continue;
    byDay.set(day, [...(byDay.get(day) ?? []), join(dir, name)]);
  }
  for (const day of [...byDay.keys()].sort()) {
    // Several processes write a day each in its own file: merge them by time.
    const records: AuditRecord[] = [];
    for (const file of byDay.get(day) ?? []) {
      for await (const line of createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })) {
        const record = parse(line);
        if (record && record.time >= from && record.time <= to && matches(record, query.requestId)) records.push(record);
      }
    }
    records.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    yield* records;
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
