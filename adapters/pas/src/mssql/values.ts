import sql from 'mssql';

/**
 * Parameter values for the legacy SQL Server columns.
 *
 * The pool runs with tedious' `useUTC`, so a DATETIME travels as a Date whose UTC fields are the
 * wall-clock time; LocalClock.toInstant reads results the same way. A DATETIME parameter is never
 * sent as text: 'yyyy-mm-dd hh:mm:ss' is read as year-day-month under a British login's DATEFORMAT.
 */
export function wallClock(local: string): Date {
  const date = new Date(`${local.slice(0, 19).replace(' ', 'T')}Z`);
  if (Number.isNaN(date.getTime())) throw new Error(`invalid PAS datetime "${local}"`);
  return date;
}

/**
 * VARCHAR, never the driver's default NVARCHAR: an NVARCHAR parameter against a VARCHAR column
 * converts the column and turns index seeks into scans. Declared at least as wide as the column so
 * the plan is reused; a longer value simply matches nothing.
 */
export function varchar(width: number, value: string | null | undefined) {
  return [sql.VarChar(Math.max(width, value?.length ?? 0)), value ?? null] as const;
}
