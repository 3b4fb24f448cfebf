import { readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { heldByLiveAppointment, searchedSlotStatus } from '../src/booking-rules.js';
import { DEFAULT_STATUS_MAPPING } from '../src/appointment-status.js';
import { LocalClock } from '../src/local-time.js';
import { MAX_SLOT_SEARCH_ROWS, slotSearchInput, slotSearchSql } from '../src/mssql/slot-search-sql.js';
import type { SlotQuery } from '../src/port.js';

/**
 * The SQL Server slot search, checked on the text it builds: bounded on the server whatever the
 * consumer's window, planned per window (OPTION (RECOMPILE)), parameters typed as the legacy
 * columns so index seeks stay seeks, and no value ever spliced into the text.
 */

const repo = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), 'utf8');
const clock = new LocalClock('Europe/London');
const CANCELLED = DEFAULT_STATUS_MAPPING.cancelledCodes;
const query = (over: Partial<SlotQuery> = {}): SlotQuery => ({ serviceId: '999999999', statuses: ['free'], limit: 500, ...over });

describe('SQL Server slot search SQL', () => {
  it('reads each clinic by its own bounded seek in start order and plans every search afresh', () => {
    const { text } = slotSearchSql(slotSearchInput(query({ startFrom: { instant: '2026-06-01T00:00:00Z', inclusive: true } }), ['DEMOCL01', 'DEMOCL02'], ['F'], clock, CANCELLED));
    expect(text).toMatch(/CROSS APPLY \(\s*SELECT TOP \(@rows\)[\s\S]*FROM CLINIC_SLOT s\s+CROSS APPLY \(SELECT [\s\S]*\) AS v\s+WHERE s\.CLINIC_CODE = c\.CLINIC_CODE[\s\S]*ORDER BY s\.START_DTTM, s\.SLOT_ID\s*\) AS s/);
    expect(text).toMatch(/^SELECT TOP \(@rows\) /);
    expect(text).toMatch(/WHERE c\.CLINIC_CODE IN \(@clinic0, @clinic1\)/);
    expect(text.trim()).toMatch(/ORDER BY s\.START_DTTM, s\.SLOT_ID\s+OPTION \(RECOMPILE\)$/);
    // Portable T-SQL: no lock hints, no MERGE.
    expect(text).not.toMatch(/\bWITH \(|NOLOCK|READPAST|\bMERGE\b/i);
  });

  it('caps the rows the server reads and returns, however many are asked for', () => {
    const rows = (n: number) => slotSearchSql({ clinicCodes: ['DEMOCL01'], statusCodes: [], now: '2026-06-01 09:00:00', cancelledCodes: CANCELLED, rows: n }).params.find((p) => p.name === 'rows')?.value;
    expect(rows(501)).toBe(501);
    expect(rows(10_000_000)).toBe(MAX_SLOT_SEARCH_ROWS);
    expect(rows(0)).toBe(1);
    // The facade's largest _count (1000) with the clock-change margin still fits under the cap.
    expect(slotSearchInput(query({ limit: 1000, startFrom: { instant: '2026-10-25T00:30:00Z', inclusive: true } }), ['X'], [], clock, CANCELLED).rows).toBeLessThanOrEqual(MAX_SLOT_SEARCH_ROWS);
  });

  it('binds every value as a typed parameter, each one used, none spliced into the text', () => {
    const hostile = "DEMO'; --";
    const { text, params } = slotSearchSql(
      slotSearchInput(
        query({ statuses: ['free', 'busy'], startFrom: { instant: '2026-06-01T08:00:00Z', inclusive: true }, startTo: { instant: '2026-06-05T00:00:00Z', inclusive: true } }),
        [hostile, 'DEMOCL02'],
        ['F', 'B'],
        clock,
        CANCELLED,
      ),
    );
    expect(text).not.toContain(hostile);
    const named = new Set([...text.matchAll(/@(\w+)/g)].map((m) => m[1]));
    expect(new Set(params.map((p) => p.name))).toEqual(named);
    expect(params.filter((p) => p.name.startsWith('clinic')).map((p) => [p.type, p.width])).toEqual([
      ['varchar', 8],
      ['varchar', 8],
    ]);
    expect(params.filter((p) => p.name.startsWith('status')).map((p) => [p.type, p.width, p.value])).toEqual([
      ['varchar', 1, 'F'],
      ['varchar', 1, 'B'],
    ]);
    // Local wall-clock bounds (BST in June), sent as DATETIME, never as text.
    expect(params.filter((p) => p.type === 'datetime' && p.name !== 'now').map((p) => [p.name, p.value])).toEqual([
      ['startFrom', '2026-06-01 09:00:00'],
      ['startTo', '2026-06-05 01:00:00'],
    ]);
    expect(text).toMatch(/s\.START_DTTM >= @startFrom/);
    expect(text).toMatch(/s\.START_DTTM <= @startTo/);
    expect(text).toMatch(/v\.SLOT_STATUS IN \(@status0, @status1\)/);
  });

  it('reports a slot free only when the booking would take it: not started, held by no live appointment (§8.1)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T08:00:00Z'));
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const { text, params } = slotSearchSql(slotSearchInput(query(), ['DEMOCL01'], ['F'], clock, ['P', 'C']));
    // The status is worked out once per row, and the filter and TOP count that status, not the row's code.
    expect(text).toContain(`CROSS APPLY (SELECT ${searchedSlotStatus('@now', ['P', 'C'])} AS SLOT_STATUS) AS v`);
    expect(text).toContain(heldByLiveAppointment('s.SLOT_ID', ['P', 'C']));
    expect(text).toMatch(/s\.START_DTTM <= @now/);
    expect(text).toMatch(/SELECT TOP \(@rows\) s\.SLOT_ID, s\.SLOT_GUID, s\.CLINIC_CODE, s\.START_DTTM, s\.END_DTTM, v\.SLOT_STATUS AS SLOT_STATUS, s\.CONTACT_TYPE\s+FROM CLINIC_SLOT s/);
    expect(text).toMatch(/v\.SLOT_STATUS IN \(@status0\)/);
    expect(text).not.toMatch(/\bs\.SLOT_STATUS IN/);
    // The local wall-clock now (BST), as DATETIME.
    expect(params.find((p) => p.name === 'now')).toEqual({ name: 'now', type: 'datetime', value: '2026-06-01 09:00:00' });
  });

  it('leaves out what the query does not bound', () => {
    const { text, params } = slotSearchSql(slotSearchInput(query({ statuses: [] }), ['DEMOCL01'], [], clock, CANCELLED));
    expect(text).not.toMatch(/START_DTTM >= @start|START_DTTM <= @start|SLOT_STATUS IN/);
    expect(params.map((p) => p.name).sort()).toEqual(['clinic0', 'now', 'rows']);
    expect(() => slotSearchSql({ clinicCodes: [], statusCodes: [], now: '2026-06-01 09:00:00', cancelledCodes: CANCELLED, rows: 1 })).toThrow(/no clinics/);
  });

  it('is what MssqlPas.searchSlots runs', () => {
    const adapter = read('adapters/pas/src/mssql/mssql-pas.ts');
    expect(adapter).toMatch(/slotSearchSql\(slotSearchInput\(/);
    expect(adapter).not.toMatch(/FROM CLINIC_SLOT s WHERE \$\{where/);
  });
});

describe('the autumn repeated hour of legacy local DATETIME columns', () => {
  // 25 October 2026: Europe/London goes from 02:00 BST back to 01:00 GMT, so 01:00-01:59 happens twice.
  it('reads a local time in the repeated hour as its second (GMT) occurrence, as docs/pas.md says', () => {
    expect(clock.toInstant('2026-10-25 00:59:00')).toBe('2026-10-24T23:59:00.000Z'); // BST
    expect(clock.toInstant('2026-10-25 01:00:00')).toBe('2026-10-25T01:00:00.000Z'); // GMT, not 00:00Z
    expect(clock.toInstant('2026-10-25 01:30:00')).toBe('2026-10-25T01:30:00.000Z');
    expect(clock.toInstant('2026-10-25 02:00:00')).toBe('2026-10-25T02:00:00.000Z');
    // Both passes through 01:30 are written as the same wall-clock value.
    expect(clock.toLocal('2026-10-25T00:30:00Z')).toBe(clock.toLocal('2026-10-25T01:30:00Z'));
    const docs = read('docs/pas.md');
    expect(docs).toMatch(/### The autumn repeated hour/);
    expect(docs).toContain('second occurrence');
  });

  it('widens a search bound near the change by an hour on the server, and fetches a margin of rows', () => {
    // From 00:30Z (01:30 BST, the first pass): the slots stored as 01:00-01:29 read as 01:00Z-01:29Z,
    // after the bound, so the server must be asked from 00:30 local, not 01:30.
    const input = slotSearchInput(query({ startFrom: { instant: '2026-10-25T00:30:00Z', inclusive: true } }), ['DEMOCL01'], ['F'], clock, CANCELLED);
    expect(input.from).toBe('2026-10-25 00:30:00');
    expect(input.rows).toBe(500 + 1000);
    const away = slotSearchInput(query({ startFrom: { instant: '2026-10-20T09:00:00Z', inclusive: true } }), ['DEMOCL01'], ['F'], clock, CANCELLED);
    expect(away.from).toBe('2026-10-20 10:00:00');
    expect(away.rows).toBe(501);
  });
});
