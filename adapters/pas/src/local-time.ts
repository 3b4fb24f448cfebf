import { DateTime } from 'luxon';

/**
 * Legacy PAS datetimes are local wall-clock times (Europe/London by default) without an offset.
 * These helpers are the only place that converts between them and UTC instants.
 */

const LEGACY_FORMAT = 'yyyy-MM-dd HH:mm:ss';

export class LocalClock {
  constructor(readonly zone: string = 'Europe/London') {
    if (!DateTime.now().setZone(zone).isValid) throw new Error(`unknown time zone "${zone}"`);
  }

  /** '2026-11-26 09:30:00' (local) → '2026-11-26T09:30:00.000Z'. */
  toInstant(local: string | Date): string {
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

  /** The local wall-clock now, for legacy audit columns. */
  nowLocal(): string {
    return DateTime.now().setZone(this.zone).toFormat(LEGACY_FORMAT);
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
