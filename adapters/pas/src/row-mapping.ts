import type { LocalClock } from './local-time.js';
import { deliveryChannelFromCode, slotStatusFromCode, trimmed } from './legacy-codes.js';
import type {
  AddressRow,
  AppointmentVersion,
  HealthcareServiceRow,
  LocationRow,
  OrganizationRow,
  PasObserver,
  PractitionerRoleRow,
  PractitionerRow,
  ScheduleRow,
  SlotQuery,
  SlotRow,
  SlotSearchResult,
  SlotStatus,
} from './port.js';

/**
 * Raw legacy rows → port rows. Both adapters select the same column names, so the translation of
 * legacy quirks lives here once.
 */

export interface RawSlot {
  SLOT_ID: number;
  SLOT_GUID: string;
  CLINIC_CODE: string;
  START_DTTM: string | Date;
  END_DTTM: string | Date;
  SLOT_STATUS: string;
  CONTACT_TYPE: string | null;
}

/** One clinic with its staff member, site and organisation joined in. */
export interface RawClinic {
  CLINIC_CODE: string;
  CLINIC_NAME: string;
  DOS_SERVICE_ID: string;
  SERVICE_NAME: string | null;
  ORG_CODE: string;
  ORG_NAME: string;
  ORG_PHONE_NO: string | null;
  ORG_ADDR_LINE1: string | null;
  ORG_ADDR_LINE2: string | null;
  ORG_TOWN: string | null;
  ORG_POSTCODE: string | null;
  SITE_CODE: string | null;
  SITE_NAME: string | null;
  SITE_PHONE_NO: string | null;
  SITE_ADDR_LINE1: string | null;
  SITE_ADDR_LINE2: string | null;
  SITE_TOWN: string | null;
  SITE_POSTCODE: string | null;
  STAFF_CODE: string | null;
  TITLE: string | null;
  FORENAMES: string | null;
  SURNAME: string | null;
  SDS_USER_ID: string | null;
  SDS_ROLE_PROFILE_ID: string | null;
  JOB_ROLE_CODE: string | null;
  JOB_ROLE_DESC: string | null;
}

/** The SELECT list and joins that produce a RawClinic; adapters append their own WHERE. */
export const CLINIC_SELECT = `
SELECT c.CLINIC_CODE, c.CLINIC_NAME, c.DOS_SERVICE_ID, c.SERVICE_NAME,
       o.ORG_CODE, o.ORG_NAME, o.PHONE_NO AS ORG_PHONE_NO, o.ADDR_LINE1 AS ORG_ADDR_LINE1,
       o.ADDR_LINE2 AS ORG_ADDR_LINE2, o.TOWN AS ORG_TOWN, o.POSTCODE AS ORG_POSTCODE,
       st.SITE_CODE, st.SITE_NAME, st.PHONE_NO AS SITE_PHONE_NO, st.ADDR_LINE1 AS SITE_ADDR_LINE1,
       st.ADDR_LINE2 AS SITE_ADDR_LINE2, st.TOWN AS SITE_TOWN, st.POSTCODE AS SITE_POSTCODE,
       sf.STAFF_CODE, sf.TITLE, sf.FORENAMES, sf.SURNAME, sf.SDS_USER_ID, sf.SDS_ROLE_PROFILE_ID,
       sf.JOB_ROLE_CODE, sf.JOB_ROLE_DESC
  FROM CLINIC c
  JOIN ORGANISATION o ON o.ORG_CODE = c.ORG_CODE
  LEFT JOIN SITE st ON st.SITE_CODE = c.SITE_CODE
  LEFT JOIN STAFF sf ON sf.STAFF_CODE = c.STAFF_CODE`;

export const SLOT_COLUMNS = 's.SLOT_ID, s.SLOT_GUID, s.CLINIC_CODE, s.START_DTTM, s.END_DTTM, s.SLOT_STATUS, s.CONTACT_TYPE';

/** SLOT_COLUMNS with SLOT_STATUS replaced by an expression (the status as a search reports it: booking-rules.ts). */
export function slotColumnsWithStatus(status: string): string {
  return SLOT_COLUMNS.replace('s.SLOT_STATUS', `${status} AS SLOT_STATUS`);
}

/**
 * A slot row in port terms. A slot code with no mapping reads as `busy-unavailable` (never free,
 * never bookable: the booking UPDATE wants 'F') and is reported through `onUnknownCode`.
 */
export function toSlotRow(raw: RawSlot, clock: LocalClock, onUnknownCode?: (column: string, code: string) => void): SlotRow {
  const deliveryChannel = deliveryChannelFromCode(raw.CONTACT_TYPE);
  return {
    slotId: String(raw.SLOT_ID),
    slotGuid: raw.SLOT_GUID.trim().toLowerCase(),
    scheduleId: raw.CLINIC_CODE.trim(),
    start: clock.toInstant(raw.START_DTTM),
    end: clock.toInstant(raw.END_DTTM),
    status: slotStatus(raw.SLOT_STATUS, onUnknownCode),
    ...(deliveryChannel ? { deliveryChannel } : {}),
  };
}

/**
 * Why a row could not be read, without its content: the clock's own message (it quotes only the
 * datetime text), else the error's class name (a JSON parser's message may quote patient data).
 */
export function unreadableReason(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (/^invalid PAS datetime "[^"]{0,40}"$/.test(message)) return message;
  return error instanceof Error ? error.name : 'unknown error';
}

/**
 * The slot rows in port terms, each row that cannot be read (a datetime the clock cannot parse)
 * reported and left out: one bad row must not fail every search of the service. A slot left out
 * is never offered, so never booked through the API.
 */
export function readableSlotRows(raw: RawSlot[], clock: LocalClock, observer: PasObserver | undefined): SlotRow[] {
  const rows: SlotRow[] = [];
  for (const r of raw) {
    try {
      rows.push(toSlotRow(r, clock, (column, code) => observer?.unknownCode(column, code)));
    } catch (error) {
      observer?.unreadableRow('CLINIC_SLOT', String(r.SLOT_ID), unreadableReason(error));
    }
  }
  return rows;
}

function slotStatus(code: string, onUnknownCode?: (column: string, code: string) => void): SlotStatus {
  try {
    return slotStatusFromCode(code);
  } catch {
    onUnknownCode?.('CLINIC_SLOT.SLOT_STATUS', code.trim());
    return 'busy-unavailable';
  }
}

/** Keeps the slots whose UTC start really lies within the query bounds (local bounds may be wider). */
export function withinBounds(slot: SlotRow, query: SlotQuery): boolean {
  const t = Date.parse(slot.start);
  const { startFrom: from, startTo: to } = query;
  if (from && (from.inclusive ? t < Date.parse(from.instant) : t <= Date.parse(from.instant))) return false;
  if (to && (to.inclusive ? t > Date.parse(to.instant) : t >= Date.parse(to.instant))) return false;
  return true;
}

function address(line1: string | null, line2: string | null, town: string | null, postcode: string | null): AddressRow | undefined {
  const lines = [trimmed(line1), trimmed(line2)].filter((l): l is string => Boolean(l));
  const city = trimmed(town);
  const postalCode = trimmed(postcode);
  if (lines.length === 0 && !city && !postalCode) return undefined;
  return { lines, ...(city ? { city } : {}), ...(postalCode ? { postalCode } : {}) };
}

function defined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/** The one value every item has, or undefined when they differ (or it is missing). */
function theOne(values: (string | undefined)[]): string | undefined {
  const distinct = new Set(values);
  return distinct.size === 1 ? values[0] : undefined;
}

/**
 * Assembles the search result: every resource the slots point at, each once.
 *
 * One directory service may run clinics at several sites, for several organisations. The
 * HealthcareService names a site (`location`, at most one for the harness) and an organisation
 * (`providedBy`, 0..1) only when every active clinic of the service agrees on it: naming the
 * first clinic's would send a consumer to the wrong place for another's slots. Each Schedule
 * always says its own site (slot-search.ts puts it on the Schedule when the service cannot).
 */
export function assembleSearch(slots: SlotRow[], clinics: RawClinic[]): Omit<SlotSearchResult, 'serviceKnown'> {
  const schedules = new Map<string, ScheduleRow>();
  const services = new Map<string, HealthcareServiceRow>();
  const practitioners = new Map<string, PractitionerRow>();
  const roles = new Map<string, PractitionerRoleRow>();
  const locations = new Map<string, LocationRow>();
  const organizations = new Map<string, OrganizationRow>();
  const used = new Set(slots.map((s) => s.scheduleId));
  const clinicsOf = (serviceId: string) => clinics.filter((c) => c.DOS_SERVICE_ID.trim() === serviceId);

  for (const c of clinics) {
    const scheduleId = c.CLINIC_CODE.trim();
    if (!used.has(scheduleId)) continue;
    const serviceId = c.DOS_SERVICE_ID.trim();
    const orgId = c.ORG_CODE.trim();
    const siteId = trimmed(c.SITE_CODE);
    const staffId = trimmed(c.STAFF_CODE);
    const roleId = trimmed(c.SDS_ROLE_PROFILE_ID);

    schedules.set(scheduleId, defined({ scheduleId, name: c.CLINIC_NAME.trim(), serviceId, practitionerId: staffId, practitionerRoleId: staffId ? roleId : undefined, locationId: siteId }));
    if (!services.has(serviceId)) {
      const all = clinicsOf(serviceId);
      services.set(
        serviceId,
        defined({
          serviceId,
          name: trimmed(c.SERVICE_NAME) ?? c.CLINIC_NAME.trim(),
          organizationId: theOne(all.map((x) => x.ORG_CODE.trim())),
          locationId: theOne(all.map((x) => trimmed(x.SITE_CODE))),
        }),
      );
    }
    organizations.set(orgId, defined({ organizationId: orgId, name: c.ORG_NAME.trim(), phone: trimmed(c.ORG_PHONE_NO), address: address(c.ORG_ADDR_LINE1, c.ORG_ADDR_LINE2, c.ORG_TOWN, c.ORG_POSTCODE) }));
    if (siteId) {
      locations.set(siteId, defined({ locationId: siteId, name: trimmed(c.SITE_NAME) ?? siteId, organizationId: orgId, phone: trimmed(c.SITE_PHONE_NO), address: address(c.SITE_ADDR_LINE1, c.SITE_ADDR_LINE2, c.SITE_TOWN, c.SITE_POSTCODE) }));
    }
    if (staffId) {
      practitioners.set(staffId, defined({ practitionerId: staffId, title: trimmed(c.TITLE), given: trimmed(c.FORENAMES), family: trimmed(c.SURNAME) ?? staffId, sdsUserId: trimmed(c.SDS_USER_ID), sdsRoleProfileId: roleId }));
      if (roleId) {
        roles.set(roleId, defined({ roleId, practitionerId: staffId, organizationId: orgId, jobRoleCode: trimmed(c.JOB_ROLE_CODE), jobRoleName: trimmed(c.JOB_ROLE_DESC) }));
      }
    }
  }
  return {
    slots,
    schedules: [...schedules.values()],
    services: [...services.values()],
    practitioners: [...practitioners.values()],
    practitionerRoles: [...roles.values()],
    locations: [...locations.values()],
    organizations: [...organizations.values()],
  };
}

export interface RawVersion {
  APPOINTMENT_ID: string;
  VERSION_ID: number;
  STATUS: string;
  LAST_UPDATED_UTC: string | Date;
  RESOURCE_JSON: string;
  CURRENT_VERSION: number;
}

export function toAppointmentVersion(raw: RawVersion): AppointmentVersion {
  const lastUpdated = raw.LAST_UPDATED_UTC instanceof Date ? raw.LAST_UPDATED_UTC.toISOString() : raw.LAST_UPDATED_UTC;
  return {
    appointmentId: raw.APPOINTMENT_ID.trim(),
    versionId: String(raw.VERSION_ID),
    lastUpdated,
    status: raw.STATUS.trim(),
    resource: JSON.parse(raw.RESOURCE_JSON) as Record<string, unknown>,
    current: raw.VERSION_ID === raw.CURRENT_VERSION,
  };
}

export const VERSION_SELECT_COLUMNS =
  'v.APPOINTMENT_ID, v.VERSION_ID, v.STATUS, v.LAST_UPDATED_UTC, v.RESOURCE_JSON, a.CURRENT_VERSION';
