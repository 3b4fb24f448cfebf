import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog, type AuditRecord, LAZY_FLUSH_MS } from '../src/audit/log.js';
import { queryAudit } from '../src/audit/query.js';
import { type AuditNotes, noteResource } from '../src/audit/middleware.js';
import { operationOutcome, problems } from '@booking/fhir';
import type { Context } from 'hono';

/** The audit trail's file format, durability-related details and queries (spec §17). */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rec = (time: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({ time, event: 'request', interaction: 'read', status: 200, outcome: 'ok', ...extra });
const all = async (query: Parameters<typeof queryAudit>[1] = {}) => {
  const out: AuditRecord[] = [];
  for await (const r of queryAudit(dir, query)) out.push(r);
  return out;
};

describe('AuditLog', () => {
  it('refuses a directory it cannot create with a configuration error naming AUDIT_DIR', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(() => new AuditLog(join(file, 'audit'))).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/^AUDIT_DIR: cannot create or write the directory .*a-file\/audit \(ENOTDIR\)$/) }));
  });

  it('writes one JSON line per record, in a file per UTC day and process', async () => {
    const log = new AuditLog(dir);
    await log.write(rec('2025-03-01T23:59:59.000Z', { requestId: 'a' }));
    await log.write(rec('2025-03-02T00:00:00.000Z', { requestId: 'b' }));
    await log.close();
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(new RegExp(`^audit-2025-03-01\\..+-${process.pid}\\.jsonl$`));
    expect(files[1]).toMatch(/^audit-2025-03-02\./);
    expect(readFileSync(join(dir, files[0] as string), 'utf8')).toBe(`${JSON.stringify(rec('2025-03-01T23:59:59.000Z', { requestId: 'a' }))}\n`);
  });

  it('keeps every record of many concurrent writes, each on its own line', async () => {
    const log = new AuditLog(dir);
    await Promise.all(Array.from({ length: 500 }, (_, i) => log.write(rec(`2025-03-01T10:00:00.${String(i).padStart(3, '0')}Z`, { requestId: `r${i}` }))));
    await log.close();
    const records = await all();
    expect(records).toHaveLength(500);
    expect(new Set(records.map((r) => r.requestId)).size).toBe(500);
  });

  it('writes a record appended without waiting, at the latest when the log closes', async () => {
    const log = new AuditLog(dir);
    log.append(rec('2025-03-01T10:00:00.000Z', { requestId: 'lazy' }), () => {});
    await log.write(rec('2025-03-01T10:00:01.000Z', { requestId: 'durable' }));
    log.append(rec('2025-03-01T10:00:02.000Z', { requestId: 'lazy-at-close' }), () => {});
    await log.close();
    expect((await all()).map((r) => r.requestId)).toEqual(['lazy', 'durable', 'lazy-at-close']);
  });

  it('keeps writing after a lazy flush found nothing left to write', async () => {
    const log = new AuditLog(dir);
    log.append(rec('2025-03-01T10:00:00.000Z', { requestId: 'lazy' }), () => {});
    await log.write(rec('2025-03-01T10:00:01.000Z', { requestId: 'first' })); // takes the lazy record along
    await new Promise((resolve) => setTimeout(resolve, LAZY_FLUSH_MS + 30)); // the lazy flush now finds nothing
    await log.write(rec('2025-03-01T10:00:02.000Z', { requestId: 'second' })); // must still resolve
    await log.close();
    expect((await all()).map((r) => r.requestId)).toEqual(['lazy', 'first', 'second']);
  });

  it('leaves a record appended during a flush for the next interval, so a stream of them costs one write per interval', async () => {
    const realSetTimeout = globalThis.setTimeout;
    const pause = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const log = new AuditLog(dir);
      log.append(rec('2025-03-01T10:00:00.000Z', { requestId: 'first' }), () => {});
      vi.advanceTimersByTime(LAZY_FLUSH_MS); // the interval ends: its flush starts
      log.append(rec('2025-03-01T10:00:01.000Z', { requestId: 'during' }), () => {}); // while it is on its way
      while ((await all()).length === 0) await pause(5);
      await pause(100); // time enough for a write right after the first one
      expect((await all()).map((r) => r.requestId)).toEqual(['first']);
      vi.advanceTimersByTime(LAZY_FLUSH_MS); // the next interval
      while ((await all()).length === 1) await pause(5);
      expect((await all()).map((r) => r.requestId)).toEqual(['first', 'during']);
      await log.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('appends after a torn last line (a crash mid-write) on a fresh line', async () => {
    const first = new AuditLog(dir);
    await first.write(rec('2025-03-01T10:00:00.000Z', { requestId: 'before' }));
    await first.close();
    const file = join(dir, readdirSync(dir)[0] as string);
    writeFileSync(file, '{"time":"2025-03-01T10:00:01.000Z","event":"req', { flag: 'a' }); // torn
    const second = new AuditLog(dir); // same host and pid: same file
    await second.write(rec('2025-03-01T10:00:02.000Z', { requestId: 'after' }));
    await second.close();
    expect((await all()).map((r) => r.requestId)).toEqual(['before', 'after']);
  });

  it('reopens the file after a failed write (a handle gone bad: stale NFS handle, remount), instead of losing every later record of the day', async () => {
    const log = new AuditLog(dir);
    await log.write(rec('2025-03-01T10:00:00.000Z', { requestId: 'before' }));
    // The day's handle stops working under the log, as a stale NFS handle does.
    const { handle } = (log as unknown as { file: { handle: { write: () => Promise<never> } } }).file;
    handle.write = async () => Promise.reject(Object.assign(new Error('ESTALE: stale file handle, write'), { code: 'ESTALE' }));
    await expect(log.write(rec('2025-03-01T10:00:01.000Z', { requestId: 'lost' }))).rejects.toThrow(); // reported, so the facade logs AUDIT WRITE FAILED
    await log.write(rec('2025-03-01T10:00:02.000Z', { requestId: 'after' }));
    await log.close();
    expect((await all()).map((r) => r.requestId)).toEqual(['before', 'after']);
  });
});

describe('queryAudit', () => {
  beforeEach(async () => {
    const log = new AuditLog(dir);
    await log.write(rec('2025-03-01T09:00:00.000Z', { requestId: 'ours-1', consumerRequestId: 'theirs-1', correlationId: 'theirs-1' }));
    await log.write(rec('2025-03-01T10:00:00.000Z', { requestId: 'ours-2' }));
    await log.write(rec('2025-03-02T10:00:00.000Z', { requestId: 'ours-3' }));
    await log.close();
    // Another facade process sharing the directory, writing the same day.
    writeFileSync(join(dir, 'audit-2025-03-01.otherhost-7.jsonl'), `${JSON.stringify(rec('2025-03-01T09:30:00.000Z', { requestId: 'other' }))}\nnot json\n`);
  });

  it('returns the records of a time range, inclusive, merged across processes in time order', async () => {
    expect((await all({ from: new Date('2025-03-01T09:00:00Z'), to: new Date('2025-03-01T10:00:00Z') })).map((r) => r.requestId)).toEqual(['ours-1', 'other', 'ours-2']);
    expect((await all({ from: new Date('2025-03-01T09:00:01Z'), to: new Date('2025-03-02T23:00:00Z') })).map((r) => r.requestId)).toEqual(['other', 'ours-2', 'ours-3']);
    expect(await all({ from: new Date('2025-04-01T00:00:00Z') })).toEqual([]);
  });

  it('finds a request by our X-Request-ID or by the consumer’s', async () => {
    expect((await all({ requestId: 'ours-2' })).map((r) => r.time)).toEqual(['2025-03-01T10:00:00.000Z']);
    expect((await all({ requestId: 'theirs-1' })).map((r) => r.requestId)).toEqual(['ours-1']);
    expect(await all({ requestId: 'nobody' })).toEqual([]);
  });

  it('refuses a missing directory rather than answering no records (a typo would look like a quiet day)', async () => {
    const out: AuditRecord[] = [];
    await expect(async () => {
      for await (const r of queryAudit(join(dir, 'nope'))) out.push(r);
    }).rejects.toThrow(`no audit directory at ${join(dir, 'nope')}`);
  });

  it('merges a day\u2019s files as it reads them, one record ahead per file, in the order a stable sort by time gives', async () => {
    // Three processes' files for one day, each in time order, interleaved, with ties across files.
    const times = (offset: number) => Array.from({ length: 40 }, (_, i) => `2025-03-05T10:00:${String(Math.floor((i * 3 + offset) / 2)).padStart(2, '0')}.000Z`);
    const files = ['audit-2025-03-05.a-1.jsonl', 'audit-2025-03-05.b-2.jsonl', 'audit-2025-03-05.c-3.jsonl'];
    const written = files.flatMap((name, f) => times(f).map((time, i) => rec(time, { requestId: `${name}#${i}` })));
    for (const name of files) writeFileSync(join(dir, name), written.filter((r) => r.requestId?.startsWith(name)).map((r) => `${JSON.stringify(r)}\n`).join(''));
    let linesRead = 0;
    const counting = async function* (file: string) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        linesRead++;
        yield line;
      }
    };
    const out: AuditRecord[] = [];
    const readWhenYielded: number[] = [];
    for await (const r of queryAudit(dir, { from: new Date('2025-03-05T00:00:00Z') }, counting)) {
      out.push(r);
      readWhenYielded.push(linesRead);
    }
    // Same output as before: every record, by time, ties in file order then line order.
    const sorted = [...written].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    expect(out.map((r) => r.requestId)).toEqual(sorted.map((r) => r.requestId));
    // Bounded: when the k-th record comes out, at most one line per file beyond it has been read.
    expect(readWhenYielded).toHaveLength(written.length);
    expect(readWhenYielded[0]).toBe(files.length);
    for (const [k, read] of readWhenYielded.entries()) expect(read).toBeLessThanOrEqual(k + 1 + files.length);
  });
});

describe('the outcome an audit record notes', () => {
  const noted = (resource: unknown) => {
    const notes: AuditNotes = { appointmentIds: new Set(), slotIds: new Set() };
    noteResource({ get: () => notes } as unknown as Context, resource);
    return notes.outcome;
  };

  it('is the Spine code, also where the harness\u2019s issue-type coding comes first (slot taken)', () => {
    expect(noted(operationOutcome(problems.slotUnavailable(), 'e1'))).toBe('INVALID_REQUEST_STATE');
    expect(noted(operationOutcome(problems.duplicate('X-Request-ID used before'), 'e2'))).toBe('DUPLICATE_REJECTED');
  });
});
