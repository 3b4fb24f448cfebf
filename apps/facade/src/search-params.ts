import {
  type Checked,
  type IncludableType,
  type Problem,
  problems,
  SLOT_STATUS_CODES,
  type SlotSearch,
  type SlotStatusCode,
  type StartBound,
} from '@booking/fhir';

/**
 * GET /Slot query parameters → a checked SlotSearch (spec §8.1, §8.2, §8.4, §19 #4–#8). Pure:
 * takes the decoded query pairs, "now" and our public base URL, so every rule is unit-testable.
 */

/** Slots returned when `_count` is absent: more than the harness's four-day window holds. */
export const DEFAULT_SLOT_COUNT = 500;
/** Larger `_count` values are capped (FHIR lets a server return fewer than asked). */
export const MAX_SLOT_COUNT = 1000;
/** Date-only and offset-less bounds are UK wall-clock times: the consumer's and the service's day. */
export const SEARCH_TIME_ZONE = 'Europe/London';

const SERVICE_PARAMS = ['schedule.actor:healthcareservice', 'schedule.actor:HealthcareService', 'service'];
const INCLUDE_PARAMS = ['_include', '_include:iterate', '_include:recurse'];

/** Every `_include` value understood, plain, `:iterate` or `:recurse` alike (§8.2, §19 #18). */
const INCLUDES: Record<string, IncludableType> = {
  'Slot:schedule': 'Schedule',
  'Slot.schedule': 'Schedule',
  'Schedule:actor:Practitioner': 'Practitioner',
  'Schedule:actor:PractitionerRole': 'PractitionerRole',
  'Schedule:actor:HealthcareService': 'HealthcareService',
  'HealthcareService.providedBy': 'Organization',
  'HealthcareService:providedBy': 'Organization',
  'HealthcareService:Organization': 'Organization',
  'HealthcareService.location': 'Location',
  'HealthcareService:location': 'Location',
  'HealthcareService:Location': 'Location',
};

const SERVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** What a PAS datetime can hold, with a day's margin for time zones at each end (London was UTC-00:01:15 in 1753). */
const PAS_EARLIEST = Date.UTC(1753, 0, 2);
const PAS_LATEST = Date.UTC(9999, 11, 31);
// An unencoded "+" in an offset arrives as a space (§8.1), so " hh:mm" is read as "+hh:mm".
const START =
  /^(eq|ge|le|gt|lt)?(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+\- ]\d{2}:\d{2})?)?$/;

class Invalid extends Error {
  constructor(readonly problem: Problem) {
    super(problem.diagnostics);
  }
}
const invalid = (diagnostics: string, parameter: string): never => {
  throw new Invalid(problems.invalidParameter(diagnostics, [parameter]));
};

/** `baseUrl`: the facade's public service root (FACADE_BASE_URL), the only base an absolute service reference may have. */
export function parseSlotSearch(query: Iterable<[string, string]>, now: Date, baseUrl: string): Checked<SlotSearch> {
  try {
    return { ok: true, value: parse([...query], now, baseUrl) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, problem: error.problem };
    throw error;
  }
}

function parse(pairs: [string, string][], now: Date, baseUrl: string): SlotSearch {
  const services = new Set<string>();
  let statuses: Set<SlotStatusCode> | undefined;
  const starts: string[] = [];
  const include = new Set<IncludableType>();
  let count = DEFAULT_SLOT_COUNT;

  for (const [name, value] of pairs) {
    if (SERVICE_PARAMS.includes(name)) services.add(serviceId(name, value, baseUrl));
    else if (name === 'status') {
      // Repeated parameters AND together; a comma list within one is an OR (FHIR search rules).
      const these = new Set(value.split(',').map((v) => slotStatus(v)));
      statuses = statuses ? new Set([...statuses].filter((s) => these.has(s))) : these;
    } else if (name === 'start') starts.push(value);
    else if (INCLUDE_PARAMS.includes(name)) {
      // Unsupported include values are silently not returned (§8.2).
      const type = INCLUDES[value];
      if (type) include.add(type);
    } else if (name === '_count') {
      if (!/^\d{1,9}$/.test(value) || Number(value) < 1) invalid(`_count must be a positive integer, got "${value}"`, name);
      count = Math.min(Number(value), MAX_SLOT_COUNT);
    } else if (!name.startsWith('_')) {
      // §19 #5: the harness expects 400 for an unknown parameter; FHIR controls (_format,
      // _revinclude, …) are accepted and ignored.
      invalid(`Unknown search parameter "${name}"`, name);
    }
  }

  // §19 #7: no service would mean every service's slots.
  const [service, ...more] = services;
  if (!service) invalid('The service is required: schedule.actor:healthcareservice (or service)', 'schedule.actor:healthcareservice');
  if (more.length > 0) invalid('Give exactly one service per search', 'schedule.actor:healthcareservice');
  if (starts.length > 2) invalid('start may be given at most twice (a lower and an upper bound)', 'start');
  // An empty list would mean every status, the opposite of what was asked.
  if (statuses?.size === 0) invalid('No status satisfies every status parameter; list alternatives in one, comma-separated', 'status');

  const window = starts.map(startBounds).reduce<Window>((w, b) => ({ from: tighter(w.from, b.from, 'from'), to: tighter(w.to, b.to, 'to') }), {});
  // §8.4: invalid query parameters are 400, an empty window (lower bound later than the upper) included.
  if (window.from && window.to && Date.parse(window.from.instant) > Date.parse(window.to.instant)) {
    invalid('The start window is empty: its lower bound is later than its upper bound', 'start');
  }
  // §8.4: a window that ends in the past (both bounds in the past) cannot hold a bookable slot.
  if (window.to && Date.parse(window.to.instant) < now.getTime()) invalid('The search window lies entirely in the past', 'start');
  // A PAS datetime holds 1753-01-01 to 9999-12-31 (SQL Server's DATETIME). A bound beyond that range
  // excludes no slot, so it is dropped rather than sent to a PAS that cannot hold it; a lower bound
  // past it is a window no PAS can have a slot in.
  if (window.from && Date.parse(window.from.instant) >= PAS_LATEST) invalid('start is later than any date a PAS can hold', 'start');
  if (window.from && Date.parse(window.from.instant) < PAS_EARLIEST) delete window.from;
  if (window.to && Date.parse(window.to.instant) >= PAS_LATEST) delete window.to;

  return {
    serviceId: service as string,
    statuses: statuses ? [...statuses] : [],
    ...(window.from ? { startFrom: window.from } : {}),
    ...(window.to ? { startTo: window.to } : {}),
    count,
    include: [...include],
  };
}

/** The code of a token given plain or as system|code (§8.1); the system is not checked. */
const tokenCode = (value: string) => value.slice(value.indexOf('|') + 1);

/**
 * `schedule.actor:healthcareservice` is a reference parameter, so besides the bare id it may come as
 * `HealthcareService/{id}` or an absolute `{our base URL}/HealthcareService/{id}` (FHIR reference
 * search forms); `service` takes them too, as they cannot be mistaken for an id. Only that type
 * names a service: `Location/…` and the like stay invalid. Another server's HealthcareService is
 * not ours of the same id: an absolute reference on any other base is invalid.
 */
const SERVICE_REFERENCE = /^(?:(https?:\/\/[^\s?#]+)\/)?HealthcareService\/([^/]+)$/;

function serviceId(name: string, value: string, baseUrl: string): string {
  const reference = SERVICE_REFERENCE.exec(value);
  const base = reference?.[1];
  if (base !== undefined && !sameUrl(base, baseUrl)) invalid(`${name} refers to a HealthcareService on another server: "${value}" (an absolute reference must be under ${baseUrl})`, name);
  const id = reference?.[2] ?? tokenCode(value);
  if (!SERVICE_ID.test(id)) invalid(`${name} must be a directory service id, got "${value}"`, name);
  return id;
}

/** The same URL once host case, default ports and the like are normalised (as URL does). */
const sameUrl = (a: string, b: string) => URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href;

function slotStatus(value: string): SlotStatusCode {
  const code = tokenCode(value);
  if (!(SLOT_STATUS_CODES as readonly string[]).includes(code)) invalid(`Unknown slot status "${value}"; expected ${SLOT_STATUS_CODES.join(', ')}`, 'status');
  return code as SlotStatusCode;
}

interface Window {
  from?: StartBound;
  to?: StartBound;
}

/**
 * One `start` value as bounds on Slot.start. Dates are UK local days; dateTimes need an offset;
 * no prefix means eq: within the day, or at the instant.
 */
function startBounds(value: string): Window {
  const m = START.exec(value);
  if (!m) return invalid(`start must be [ge|le|gt|lt]YYYY-MM-DD or a dateTime with Z or an offset, got "${value}"`, 'start');
  const [, prefix = 'eq', y, mo, d, h, mi, s = '00', frac = '', zone] = m;
  // The Booking Standard requires every time to carry its offset (§16); a date alone is a UK day.
  if (h !== undefined && zone === undefined) invalid(`start "${value}" has a time but no time-zone offset; add Z or ±hh:mm`, 'start');
  const day = [Number(y), Number(mo), Number(d)] as const;
  const badTime = h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59);
  const badZone = zone !== undefined && zone !== 'Z' && (Number(zone.slice(1, 3)) > 14 || Number(zone.slice(4, 6)) > 59);
  if (!isCalendarDate(...day) || badTime || badZone) {
    return invalid(`start is not a valid date or time: "${value}"`, 'start');
  }

  // The period the value denotes: a date is [local midnight, next local midnight), a dateTime an instant.
  let period: { lo: number; hi: number; hiInclusive: boolean };
  if (h === undefined) {
    const lo = londonInstant(Date.UTC(day[0], day[1] - 1, day[2]));
    period = { lo, hi: londonInstant(Date.UTC(day[0], day[1] - 1, day[2] + 1)), hiInclusive: false };
  } else {
    const wall = Date.UTC(day[0], day[1] - 1, day[2], Number(h), Number(mi), Number(s), Math.floor(Number(`0${frac || '.0'}`) * 1000));
    const t = wall - offsetMs(zone as string);
    period = { lo: t, hi: t, hiInclusive: true };
  }
  const { lo, hi, hiInclusive } = period;
  switch (prefix) {
    case 'ge':
      return { from: bound(lo, true) };
    case 'gt':
      return { from: bound(hi, !hiInclusive) };
    case 'le':
      return { to: bound(hi, hiInclusive) };
    case 'lt':
      return { to: bound(lo, false) };
    default:
      return { from: bound(lo, true), to: bound(hi, hiInclusive) };
  }
}

/** Of two bounds on the same side, the one that lets fewer slots through. */
function tighter(a: StartBound | undefined, b: StartBound | undefined, side: 'from' | 'to'): StartBound | undefined {
  if (!a || !b) return a ?? b;
  const [ta, tb] = [Date.parse(a.instant), Date.parse(b.instant)];
  if (ta === tb) return a.inclusive ? b : a;
  return (side === 'from' ? ta > tb : ta < tb) ? a : b;
}

/** "Z", "+01:00", " 01:00" (a decoded "+") or "-05:00" → milliseconds east of UTC. */
function offsetMs(zone: string): number {
  if (zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

function isCalendarDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

const bound = (t: number, inclusive: boolean): StartBound => ({ instant: new Date(t).toISOString(), inclusive });

const zoneFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: SEARCH_TIME_ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

/** How far the search time zone's wall clock is ahead of UTC at instant t, in ms. */
function zoneOffsetAt(t: number): number {
  const parts = zoneFormat.formatToParts(t);
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(t / 1000) * 1000;
}

/**
 * The instant of a wall-clock time in the search time zone, given as if it were UTC (Node 20 has
 * no Temporal). The offset at that guess is right unless a clock change lies between: the second
 * look then finds the right one.
 */
function londonInstant(wallAsUtc: number): number {
  return wallAsUtc - zoneOffsetAt(wallAsUtc - zoneOffsetAt(wallAsUtc));
}
