import { DateTime } from 'luxon';

/**
 * Legacy PAS datetimes are local wall-clock times (Europe/London by default) without an offset.
 * These helpers are the only place that converts between them and UTC instants.
 */

const LEGACY_FORMAT = 'yyyy-MM-dd HH:mm:ss';
const LEGACY_PATTERN = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
/** Bound on remembered conversions (a few MB at most); the cache is simply emptied when full. */
const MAX_REMEMBERED = 50_000;

export class LocalClock {
  /**
   * Local → UTC conversions already made. Luxon's time-zone maths was a third of a slot search's
   * CPU in the worker (two conversions per slot), and the same slot times are read again and again;
   * the mapping of a wall-clock string to an instant never changes for a zone.
   */
  private readonly instants = new Map<string, string>();
  private now: { second: number; local: string } | undefined;

  constructor(readonly zone: string = 'Europe/London') {
    if (!DateTime.now().setZone(zone).isValid) throw new Error(`unknown time zone "${zone}"`);
  }

  /** '2026-11-26 09:30:00' (local) → '2026-11-26T09:30:00.000Z'. */
  toInstant(local: string | Date): string {
    if (local instanceof Date) return this.convert(local);
    const key = local.slice(0, 19);
    const known = this.instants.get(key);
    if (known !== undefined) return known;
    const instant = this.convert(local);
    if (this.instants.size >= MAX_REMEMBERED) this.instants.clear();
    this.instants.set(key, instant);
    return instant;
  }

  private convert(local: string | Date): string {
    const fields = typeof local === 'string' ? LEGACY_PATTERN.exec(local.slice(0, 19)) : null;
    const dt =
      local instanceof Date
        ? // mssql hands DATETIME back as a Date whose UTC fields hold the wall-clock time.
          DateTime.fromObject(
            {
              year: local.getUTCFullYear(),
              month: local.getUTCMonth() + 1,
              day: local.getUTCDate(),
              hour: local.getUTCHours(),
              minute: local.getUTCMinutes(),
              second: local.getUTCSeconds(),
            },
            { zone: this.zone },
          )
        : fields
          ? // The legacy format read field by field: what fromFormat gives, without its token parser.
            DateTime.fromObject({ year: +fields[1]!, month: +fields[2]!, day: +fields[3]!, hour: +fields[4]!, minute: +fields[5]!, second: +fields[6]! }, { zone: this.zone })
          : DateTime.fromFormat(local.slice(0, 19), LEGACY_FORMAT, { zone: this.zone });
    if (!dt.isValid) throw new Error(`invalid PAS datetime "${String(local)}"`);
    return dt.toUTC().toISO() as string;
  }

  /** UTC (or offset) instant → local wall-clock string for the PAS. */
  toLocal(instant: string): string {
    const dt = DateTime.fromISO(instant, { setZone: true });
    if (!dt.isValid) throw new Error(`invalid instant "${instant}"`);
    return dt.setZone(this.zone).toFormat(LEGACY_FORMAT);
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
