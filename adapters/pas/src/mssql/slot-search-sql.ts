import sql, { type Request } from 'mssql';
import { searchedSlotStatus } from '../booking-rules.js';
import type { LocalClock } from '../local-time.js';
import type { SlotQuery } from '../port.js';
import { SLOT_COLUMNS, slotColumnsWithStatus } from '../row-mapping.js';
import { varchar, wallClock } from './values.js';

/**
 * The SQL Server slot search, as text plus typed parameters (a pure function, so its shape is
 * tested without a server).
 *
 * Bounded on the server: each clinic's slots are read by their own TOP (@rows) seek on
 * (CLINIC_CODE, START_DTTM) in start order, so however wide or open the consumer's window, the
 * server reads at most @rows index rows per clinic and sorts at most clinics × @rows rows; @rows
 * itself is capped. `OPTION (RECOMPILE)` plans each search for its own window and row count: a
 * cached plan built for the first window seen (a day, say) is wrong for the next (a year, or no
 * upper bound) and the other way round. Compiling a statement this small costs well under a
 * millisecond. The covering index (docker/pas/01-legacy-schema.sql; `doctor` recommends it)
 * makes each seek index-only.
 *
 * Each row's status is the one the booking's guard sees (booking-rules.ts `searchedSlotStatus`,
 * worked out once per row in a CROSS APPLY): a free row that has started, or that a live
 * appointment holds, is not reported free, and a status filter counts only what it reports, so
 * TOP (@rows) still returns the first matching rows. The held check seeks IX_APPOINTMENT_SLOT.
 */

export interface SlotSearchParam {
  name: string;
  type: 'varchar' | 'datetime' | 'int';
  /** varchar: the column's declared width (the parameter is declared at least that wide). */
  width?: number;
  /** datetime: a legacy local wall-clock 'yyyy-MM-dd HH:mm:ss'. */
  value: string | number;
}

export interface SlotSearchSql {
  text: string;
  params: SlotSearchParam[];
}

export interface SlotSearchInput {
  clinicCodes: string[];
  /** Legacy codes of the status as a search reports it (booking-rules.ts); empty = every status. */
  statusCodes: string[];
  /** The local wall-clock now: a free slot starting no later reads busy-unavailable, as the booking refuses it. */
  now: string;
  /** Appointment codes that no longer hold their slot; any other appointment makes a free slot read busy. */
  cancelledCodes: readonly string[];
  /** Inclusive local bounds on START_DTTM (already widened near a clock change). */
  from?: string;
  to?: string;
  /** Rows wanted, before the caller's precise filtering on UTC instants. */
  rows: number;
}

/** Rows a single search may read per clinic and return: the facade's largest _count plus the clock-change margin. */
export const MAX_SLOT_SEARCH_ROWS = 2001;

/** Extra rows fetched when a bound was widened: the slots of the widened hour are filtered out afterwards. */
const CLOCK_CHANGE_MARGIN = 1000;

/**
 * The local bounds and row count for a query. Wall-clock time is not monotonic across the autumn
 * clock change (docs/pas.md), so near one a bound is widened by an hour and the caller filters
 * the rows on their UTC instants.
 */
export function slotSearchInput(query: SlotQuery, clinicCodes: string[], statusCodes: string[], clock: LocalClock, cancelledCodes: readonly string[]): SlotSearchInput {
  const from = query.startFrom ? clock.queryBound(query.startFrom.instant, 'lower') : undefined;
  const to = query.startTo ? clock.queryBound(query.startTo.instant, 'upper') : undefined;
  const widened = Boolean(from?.widened || to?.widened);
  return {
    clinicCodes,
    statusCodes,
    now: clock.nowLocal(),
    cancelledCodes,
    ...(from ? { from: from.local } : {}),
    ...(to ? { to: to.local } : {}),
    rows: widened ? query.limit + CLOCK_CHANGE_MARGIN : query.limit + 1,
  };
}

export function slotSearchSql(input: SlotSearchInput): SlotSearchSql {
  if (input.clinicCodes.length === 0) throw new Error('slotSearchSql: no clinics to search');
  const params: SlotSearchParam[] = [];
  const clinics = input.clinicCodes.map((code, i) => {
    params.push({ name: `clinic${i}`, type: 'varchar', width: 8, value: code });
    return `@clinic${i}`;
  });
  params.push({ name: 'now', type: 'datetime', value: input.now });
  const where = ['s.CLINIC_CODE = c.CLINIC_CODE'];
  if (input.from !== undefined) {
    params.push({ name: 'startFrom', type: 'datetime', value: input.from });
    where.push('s.START_DTTM >= @startFrom');
  }
  if (input.to !== undefined) {
    params.push({ name: 'startTo', type: 'datetime', value: input.to });
    where.push('s.START_DTTM <= @startTo');
  }
  if (input.statusCodes.length > 0) {
    const names = input.statusCodes.map((code, i) => {
      params.push({ name: `status${i}`, type: 'varchar', width: 1, value: code });
      return `@status${i}`;
    });
    where.push(`v.SLOT_STATUS IN (${names.join(', ')})`);
  }
  params.push({ name: 'rows', type: 'int', value: Math.max(1, Math.min(Math.floor(input.rows), MAX_SLOT_SEARCH_ROWS)) });
  const text = `SELECT TOP (@rows) ${SLOT_COLUMNS}
  FROM CLINIC c
  CROSS APPLY (
    SELECT TOP (@rows) ${slotColumnsWithStatus('v.SLOT_STATUS')}
      FROM CLINIC_SLOT s
     CROSS APPLY (SELECT ${searchedSlotStatus('@now', input.cancelledCodes)} AS SLOT_STATUS) AS v
     WHERE ${where.join('\n       AND ')}
     ORDER BY s.START_DTTM, s.SLOT_ID
  ) AS s
 WHERE c.CLINIC_CODE IN (${clinics.join(', ')})
 ORDER BY s.START_DTTM, s.SLOT_ID
OPTION (RECOMPILE)`;
  return { text, params };
}

/** Binds the parameters with the legacy columns' types (VARCHAR, DATETIME), so the seeks stay seeks. */
export function bindSlotSearch(request: Request, params: SlotSearchParam[]): Request {
  for (const p of params) {
    if (p.type === 'int') request.input(p.name, sql.Int, p.value);
    else if (p.type === 'datetime') request.input(p.name, sql.DateTime, wallClock(String(p.value)));
    else request.input(p.name, ...varchar(p.width ?? 0, String(p.value)));
  }
  return request;
}
