import { DateTime } from 'luxon';

/**
 * Legacy PAS datetimes are local wall-clock times (Europe/London by default) without an offset.
 * These helpers are the only place that converts between them and UTC instants.
 */

const LEGACY_FORMAT = 'yyyy-MM-dd HH:mm:ss';
/**
 * A stored wall-clock time in the forms a SQLite text column may hold that still sort as the
 * legacy format does (the SQLite guards compare START_DTTM as text, with the index): seconds
 * optional (':00'), fractional seconds dropped (as a DATETIME's milliseconds are). No offset, and
 * no 'T' between date and time: 'T' sorts after ' ', so a guard would read such a time as later
 * than any other that day (a started slot booked, a begun appointment cancelled). Such a row is
 * unreadable, and left out where rows are read in bulk.
 */
const LEGACY_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*$/;

/** The fields of a stored wall-clock time, seconds '00' when not written, or null. */
function legacyFields(local: string): string[] | null {
  const m = LEGACY_PATTERN.exec(local);
  return m ? [m[0], m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '00'] : null;
}
/** Bound on remembered conversions (a few MB at most); the cache is simply emptied when full. */
const MAX_REMEMBERED = 50_000;
const DAY_MS = 86_400_000;
const DAY_PLUS_MS = 26 * 3_600_000;
/** An instant as FHIR writes one (seconds, optional fraction, Z or ±hh:mm): the fast path's input. */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|([+-])([01]\d|2[0-3]):([0-5]\d))$/;

/** 'yyyy-MM-dd HH:mm:ss' of the UTC fields of an epoch ms (the wall clock once the offset is added). */
function wallClockOf(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/**
 * The written date and time as epoch ms of the same UTC fields, or undefined when they are not a
 * real date and time (31 June, 24:00, years Date.UTC reads as 19xx): those are left to luxon.
 */
function wallOf(fields: ArrayLike<string | undefined>): number | undefined {
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => fields[i] as string);
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!);
  return !Number.isNaN(ms) && wallClockOf(ms) === `${y}-${mo}-${d} ${h}:${mi}:${s}` ? ms : undefined;
}

/** Whether the PAS_TIMEZONE-style name is an IANA zone this runtime knows (the worker's setting check). */
export function isKnownTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

export class LocalClock {
  /**
   * Local → UTC conversions already made. Luxon's time-zone maths was a third of a slot search's
   * CPU in the worker (two conversions per slot), and the same slot times are read again and again;
   * the mapping of a wall-clock string to an instant never changes for a zone.
   */
  private readonly instants = new Map<string, string>();
  private now: { second: number; local: string } | undefined;
  /**
   * The zone's UTC offset (minutes) per UTC day, or null for a day on which it changes. Asking luxon (Intl) for an offset was ≈ 10 % of a booking's worker CPU; offsets
   * change only at a zone's transitions, so conversions away from one are plain arithmetic; near
   * one, `offsetOfWall` decides.
   */
  private readonly offsets = new Map<number, number | null>();

  constructor(readonly zone: string = 'Europe/London') {
    if (!isKnownTimeZone(zone)) throw new Error(`unknown time zone "${zone}"`);
  }

  /** '2026-11-26 09:30:00' (local) → '2026-11-26T09:30:00.000Z'. */
  toInstant(local: string | Date): string {
    if (local instanceof Date) return this.convert(local);
    const key = local;
    const known = this.instants.get(key);
    if (known !== undefined) return known;
    const instant = this.convert(local);
    if (this.instants.size >= MAX_REMEMBERED) this.instants.clear();
    this.instants.set(key, instant);
    return instant;
  }

  private convert(local: string | Date): string {
    const fields = typeof local === 'string' ? legacyFields(local) : null;
    // mssql hands DATETIME back as a Date whose UTC fields hold the wall-clock time (milliseconds dropped, as below).
    const wall = local instanceof Date ? (Number.isNaN(local.getTime()) ? undefined : local.getTime() - local.getUTCMilliseconds()) : fields ? wallOf(fields) : undefined;
    if (wall !== undefined) return new Date(wall - this.offsetOfWall(wall) * 60_000).toISOString();
    // Not a real date and time by Date.UTC's reading (31 June, 24:00, a year below 100): luxon
    // decides, which refuses the impossible ones; no such value falls in a zone's clock change.
    const dt = fields
      ? DateTime.fromObject({ year: +fields[1]!, month: +fields[2]!, day: +fields[3]!, hour: +fields[4]!, minute: +fields[5]!, second: +fields[6]! }, { zone: this.zone })
      : DateTime.invalid('not a legacy datetime');
    if (!dt.isValid) throw new Error(`invalid PAS datetime "${String(local)}"`);
    return dt.toUTC().toISO() as string;
  }

  /**
   * The UTC offset (minutes) that a wall-clock time (epoch ms of its fields read as UTC) is read
   * with. Decided by the wall-clock time alone, never by today's offset (luxon's fromObject guesses
   * from the offset at *now*, so the same stored value read differently in summer and in winter):
   * - in a repeated hour (clocks going back) both offsets fit: the smaller one, i.e. the later,
   *   second pass (in Europe/London the GMT one);
   * - in a gap (clocks going forward) neither fits: the smaller one too, the offset before the
   *   change, so '01:30' on the spring Sunday reads as 01:30Z, shown as 02:30 BST.
   */
  private offsetOfWall(wall: number): number {
    const around = [this.offsetAt(wall - DAY_PLUS_MS), this.offsetAt(wall + DAY_PLUS_MS)];
    // With one offset from a day before to a day after this wall-clock time, it is the offset.
    if (around[0] !== null && around[0] === around[1] && this.offsetAt(wall) === around[0]) return around[0];
    // Near a change: every offset the zone has in the two days around, each tried.
    const candidates = new Set<number>();
    for (let t = wall - DAY_PLUS_MS; t <= wall + DAY_PLUS_MS; t += 3_600_000) candidates.add(this.exactOffset(t));
    const fitting = [...candidates].filter((o) => this.exactOffset(wall - o * 60_000) === o);
    return Math.min(...(fitting.length > 0 ? fitting : candidates));
  }

  /** The zone's offset (minutes) at an instant, asked of luxon (Intl). */
  private exactOffset(ms: number): number {
    return DateTime.fromMillis(ms, { zone: this.zone }).offset;
  }

  /** UTC (or offset) instant → local wall-clock string for the PAS. */
  toLocal(instant: string): string {
    const parts = ISO_INSTANT.exec(instant);
    const written = parts ? wallOf(parts) : undefined;
    if (parts && written !== undefined) {
      const ms = written - (parts[7] ? (parts[7] === '-' ? -1 : 1) * (+parts[8]! * 60 + +parts[9]!) * 60_000 : 0);
      const offset = this.offsetAt(ms);
      if (offset !== null) return wallClockOf(ms + offset * 60_000);
    }
    const dt = DateTime.fromISO(instant, { setZone: true });
    if (!dt.isValid) throw new Error(`invalid instant "${instant}"`);
    return dt.setZone(this.zone).toFormat(LEGACY_FORMAT);
  }

  /** The offset at a UTC instant (minutes), or null when it changes on that UTC day. */
  private offsetAt(ms: number): number | null {
    const day = Math.floor(ms / DAY_MS);
    let offset = this.offsets.get(day);
    if (offset === undefined) {
      // Equal ends mean one offset all day: no zone of the tz database changes and changes back within a day.
      const first = this.exactOffset(day * DAY_MS);
      const last = this.exactOffset((day + 1) * DAY_MS - 1);
      offset = first === last ? first : null;
      if (this.offsets.size >= MAX_REMEMBERED) this.offsets.clear();
      this.offsets.set(day, offset);
    }
    return offset;
  }

  /** The local wall-clock now, for legacy audit columns (to the second, so worked out once a second). */
  nowLocal(): string {
    const second = Math.floor(Date.now() / 1000);
    if (this.now?.second !== second) this.now = { second, local: DateTime.fromSeconds(second).setZone(this.zone).toFormat(LEGACY_FORMAT) };
    return this.now.local;
  }

  /**
   * Local bound for a range query on a local datetime column. Wall-clock time is not monotonic
   * across the autumn clock change, so near one the bound is widened by an hour and callers filter
   * the rows precisely on their UTC instants.
   */
  queryBound(instant: string, side: 'lower' | 'upper'): { local: string; widened: boolean } {
    const dt = DateTime.fromISO(instant, { setZone: true }).setZone(this.zone);
    const nearChange = dt.minus({ hours: 2 }).offset !== dt.offset || dt.plus({ hours: 2 }).offset !== dt.offset;
    const bound = nearChange ? (side === 'lower' ? dt.minus({ hours: 1 }) : dt.plus({ hours: 1 })) : dt;
    return { local: bound.toFormat(LEGACY_FORMAT), widened: nearChange };
  }
}
