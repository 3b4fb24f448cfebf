import fc from 'fast-check';
import { DateTime } from 'luxon';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { LocalClock } from '../src/local-time.js';

/**
 * LocalClock converts by arithmetic away from a zone's transitions and asks luxon near them; these
 * properties hold it to luxon's own answers (the reference below is the plain luxon conversion)
 * everywhere, transitions and invalid input included.
 */
const LEGACY = 'yyyy-MM-dd HH:mm:ss';
const ZONES = ['Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'UTC'];

function outcome(run: () => string): string {
  try {
    return run();
  } catch {
    return 'throws';
  }
}

/**
 * The reference reading of a wall-clock time: luxon's, except where the time is ambiguous (a
 * repeated hour), where the rule is the later reading (the smaller offset) whatever the date today.
 * Luxon alone picks by the offset at *now* there; for a gap its answer does not depend on now.
 */
function luxonToInstant(local: string, zone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(local);
  if (!m) throw new Error('not a legacy datetime');
  const dt = DateTime.fromObject({ year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: +m[6]! }, { zone });
  if (!dt.isValid) throw new Error('invalid');
  // Every instant within a day either side that luxon writes as this same wall-clock time.
  const readings = [-1, 0, 1]
    .flatMap((d) => [dt.plus({ days: d }).offset])
    .map((offset) => DateTime.fromMillis(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) - offset * 60_000, { zone }))
    .filter((r) => r.toFormat(LEGACY) === local && +m[1]! >= 100)
    .map((r) => r.toMillis());
  return (readings.length > 0 ? DateTime.fromMillis(Math.max(...readings)) : dt).toUTC().toISO() as string;
}

function luxonToLocal(instant: string, zone: string): string {
  const dt = DateTime.fromISO(instant, { setZone: true });
  if (!dt.isValid) throw new Error('invalid');
  return dt.setZone(zone).toFormat(LEGACY);
}

const clocks = new Map(ZONES.map((zone) => [zone, new LocalClock(zone)]));
const zone = fc.constantFrom(...ZONES);
/** 2000–2040, minute steps, with extra weight on the weeks of the spring and autumn changes. */
const instantMs = fc.oneof(
  fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
  fc.tuple(fc.integer({ min: 2000, max: 2039 }), fc.constantFrom(2, 3, 9, 3, 10), fc.integer({ min: 0, max: 7 * 24 * 60 })).map(([y, month, minutes]) => Date.UTC(y, month, 24) + minutes * 60_000),
);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Every offset change of the zones in 2020–2030, to the minute (found with luxon itself). */
function transitions(): number[] {
  const found: number[] = [];
  const offset = (z: string, ms: number) => DateTime.fromMillis(ms, { zone: z }).offset;
  for (const z of ZONES) {
    for (let day = Date.UTC(2020, 0, 1); day < Date.UTC(2031, 0, 1); day += 86_400_000) {
      let [lo, hi] = [day, day + 86_400_000];
      if (offset(z, lo) === offset(z, hi)) continue;
      while (hi - lo > 60_000) {
        const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
        if (offset(z, mid) === offset(z, lo)) lo = mid;
        else hi = mid;
      }
      found.push(hi);
    }
  }
  return found;
}
/** Within three hours (either side, wall-clock or UTC) of an offset change: gaps and repeated hours. */
const nearChange = fc.tuple(fc.constantFrom(...transitions()), fc.integer({ min: -16 * 60, max: 16 * 60 })).map(([at, minutes]) => at + minutes * 60_000);

const anyOrNearChange = fc.oneof(instantMs, nearChange);

describe('LocalClock against luxon', () => {
  it('UTC and offset instants → local wall-clock time, in every zone and across every change', () => {
    fc.assert(
      fc.property(zone, anyOrNearChange, fc.integer({ min: -14 * 4, max: 14 * 4 }), fc.boolean(), (z, ms, quarterOffset, fraction) => {
        const offsetMinutes = quarterOffset * 15;
        const shifted = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
        const sign = offsetMinutes < 0 ? '-' : '+';
        const suffix = offsetMinutes === 0 ? 'Z' : `${sign}${pad(Math.floor(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
        const instant = `${shifted}${fraction ? '.789' : ''}${suffix}`;
        expect(outcome(() => (clocks.get(z) as LocalClock).toLocal(instant))).toBe(outcome(() => luxonToLocal(instant, z)));
      }),
      { numRuns: 3000 },
    );
  });

  it.each(['2026-07-01T12:00:00Z', '2026-01-15T12:00:00Z'])('local wall-clock times → UTC instants, gaps and repeated hours included, from strings and from Dates (now %s)', (now) => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(now));
    onTestFinished(() => {
      vi.useRealTimers();
    });
    fc.assert(
      fc.property(zone, anyOrNearChange, (z, ms) => {
        const local = new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
        const expected = outcome(() => luxonToInstant(local, z));
        // A fresh clock each time, so the string cache cannot hide the conversion itself.
        expect(outcome(() => new LocalClock(z).toInstant(local))).toBe(expected);
        expect(outcome(() => new LocalClock(z).toInstant(new Date(ms)))).toBe(expected);
      }),
      { numRuns: 1500 },
    );
  });

  it('answers odd input as luxon does (impossible dates refused, ISO 24:00 read as the next midnight)', () => {
    const clock = new LocalClock('Europe/London');
    for (const odd of ['2026-02-30T10:00:00Z', '2026-04-31T10:00:00+01:00', '2026-01-01T24:00:00Z', '2026-01-01T10:00:00+24:00', 'yesterday']) {
      expect(outcome(() => clock.toLocal(odd))).toBe(outcome(() => luxonToLocal(odd, 'Europe/London')));
    }
    for (const odd of ['2026-02-30 10:00:00', '2026-01-01 24:00:00', '2026-13-01 10:00:00', '0099-06-01 10:00:00']) {
      expect(outcome(() => clock.toInstant(odd))).toBe(outcome(() => luxonToInstant(odd, 'Europe/London')));
    }
    expect(outcome(() => clock.toLocal('2026-02-30T10:00:00Z'))).toBe('throws');
    expect(outcome(() => clock.toInstant('2026-02-30 10:00:00'))).toBe('throws');
    expect(clock.toLocal('2026-02-28T10:00:00Z')).toBe('2026-02-28 10:00:00');
  });

  it('reads the other forms SQLite text may hold that sort as the legacy format does: no seconds, fractional seconds; not a T separator', () => {
    const clock = new LocalClock('Europe/London');
    for (const same of ['2026-12-03 09:00', '2026-12-03 09:00:00.000', '2026-12-03 09:00:00.999', '2026-12-03 09:00:00 ']) {
      expect(new LocalClock('Europe/London').toInstant(same)).toBe('2026-12-03T09:00:00.000Z');
      expect(clock.toInstant(same)).toBe('2026-12-03T09:00:00.000Z');
    }
    expect(clock.toInstant('2026-07-03 09:30')).toBe('2026-07-03T08:30:00.000Z');
    // 'T' sorts after ' ': the SQLite guards, comparing text, would read it as later than any time that day.
    for (const bad of ['2026-12-03T09:00', '2026-12-03T09:00:00', '2026-12-03', '2026-12-03 9:00', '2026-12-03 09:00:00Z', '2026-12-03 09:00:00+01:00', '03/12/2026 09:00', '2026-12-31 09:00:60', '2026-02-30 09:00']) {
      expect(outcome(() => clock.toInstant(bad))).toBe('throws');
    }
  });

  it('reads a stored time in the repeated autumn hour as its second, GMT pass (docs/pas.md)', () => {
    const clock = new LocalClock('Europe/London');
    expect(clock.toInstant('2026-10-25 01:30:00')).toBe(luxonToInstant('2026-10-25 01:30:00', 'Europe/London'));
    expect(clock.toLocal('2026-10-25T00:30:00Z')).toBe('2026-10-25 01:30:00');
    expect(clock.toLocal('2026-10-25T01:30:00Z')).toBe('2026-10-25 01:30:00');
  });
});

/**
 * A legacy DATETIME in the autumn repeated hour has two readings; which one the product uses must
 * not depend on the date the worker (or CI) runs. Luxon's fromObject picks by the offset at *now*,
 * so each case runs with the clock fixed in summer and in winter.
 */
describe.each([
  ['summer (BST)', '2026-07-01T12:00:00Z'],
  ['winter (GMT)', '2026-12-01T12:00:00Z'],
  ['the repeated hour itself, first pass', '2026-10-25T00:50:00Z'],
])('with now fixed in %s', (_season, now) => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(now));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads a stored time in the repeated autumn hour as its second (GMT) pass, from a string and from a Date', () => {
    const clock = new LocalClock('Europe/London');
    expect(clock.toInstant('2026-10-25 00:59:59')).toBe('2026-10-24T23:59:59.000Z'); // BST, before the hour
    expect(clock.toInstant('2026-10-25 01:00:00')).toBe('2026-10-25T01:00:00.000Z');
    expect(clock.toInstant('2026-10-25 01:30:00')).toBe('2026-10-25T01:30:00.000Z');
    expect(clock.toInstant(new Date('2026-10-25T01:30:00Z'))).toBe('2026-10-25T01:30:00.000Z'); // mssql's wall-clock Date
    expect(clock.toInstant('2026-10-25 01:59:59')).toBe('2026-10-25T01:59:59.000Z');
    expect(clock.toInstant('2026-10-25 02:00:00')).toBe('2026-10-25T02:00:00.000Z'); // GMT, after it
  });

  it('writes both passes through the repeated hour as the same wall-clock time', () => {
    const clock = new LocalClock('Europe/London');
    expect(clock.toLocal('2026-10-25T00:30:00Z')).toBe('2026-10-25 01:30:00');
    expect(clock.toLocal('2026-10-25T01:30:00Z')).toBe('2026-10-25 01:30:00');
    expect(clock.toLocal('2026-10-25T01:30:00+01:00')).toBe('2026-10-25 01:30:00');
    // Round trip of what it reads: the stored value comes back unchanged.
    expect(clock.toLocal(clock.toInstant('2026-10-25 01:30:00'))).toBe('2026-10-25 01:30:00');
  });

  it('reads a stored time in the spring gap an hour later (02:xx BST), as docs/pas.md says', () => {
    const clock = new LocalClock('Europe/London');
    expect(clock.toInstant('2026-03-29 00:59:59')).toBe('2026-03-29T00:59:59.000Z'); // GMT
    expect(clock.toInstant('2026-03-29 01:30:00')).toBe('2026-03-29T01:30:00.000Z'); // = 02:30 BST
    expect(clock.toInstant(new Date('2026-03-29T01:30:00Z'))).toBe('2026-03-29T01:30:00.000Z');
    expect(clock.toLocal('2026-03-29T01:30:00Z')).toBe('2026-03-29 02:30:00');
    expect(clock.toInstant('2026-03-29 02:00:00')).toBe('2026-03-29T01:00:00.000Z'); // BST
  });

  it('takes the later reading in every zone: the one with the smaller offset (southern summers too)', () => {
    // Australia/Lord_Howe goes back half an hour on 5 April 2026 at 02:00 (+11:00 → +10:30).
    expect(new LocalClock('Australia/Lord_Howe').toInstant('2026-04-05 01:45:00')).toBe('2026-04-04T15:15:00.000Z');
    // America/New_York goes back at 02:00 EDT on 1 November 2026.
    expect(new LocalClock('America/New_York').toInstant('2026-11-01 01:30:00')).toBe('2026-11-01T06:30:00.000Z');
  });
});
