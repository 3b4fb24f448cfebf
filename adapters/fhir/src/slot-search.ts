import { EXTENSIONS, type JsonObject, PROFILES, SYSTEMS } from './types.js';

/**
 * Slot search (spec §8): the checked query that travels from facade to worker, and the mapping
 * of the PAS's rows to the searchset Bundle (§8.3, §15). Pure functions: the worker supplies
 * the Bundle id and time.
 */

/** STU3 Slot.status codes; servers must support searching on every one (§8.1). */
export const SLOT_STATUS_CODES = ['free', 'busy', 'busy-unavailable', 'busy-tentative', 'entered-in-error'] as const;
export type SlotStatusCode = (typeof SLOT_STATUS_CODES)[number];

/** Resource types a search can `_include` (§8.2). */
export type IncludableType = 'Schedule' | 'Practitioner' | 'PractitionerRole' | 'HealthcareService' | 'Organization' | 'Location';

/** A bound on Slot.start as a UTC instant. */
export interface StartBound {
  instant: string;
  inclusive: boolean;
}

/** A checked slot search: what the facade queues and the worker runs. */
export interface SlotSearch {
  /** Directory (DoS) service id = HealthcareService logical id. */
  serviceId: string;
  /** Empty = every status. */
  statuses: SlotStatusCode[];
  startFrom?: StartBound;
  startTo?: StartBound;
  /** Most Slots to return. */
  count: number;
  /** Types asked for by `_include`, each once. */
  include: IncludableType[];
}

/**
 * The default identifier system of Schedules (PAS clinic codes; the profile needs one identifier):
 * a placeholder, as no national system exists for a trust's diaries. A trust sets its own with
 * SCHEDULE_ID_SYSTEM (worker setting).
 */
export const DEFAULT_SCHEDULE_ID_SYSTEM = 'https://fhir.example-trust.nhs.uk/Id/clinic-code';
/** The directory (DoS) service id system, HealthcareService.identifier (§19 #17). */
export const DOS_SERVICE_ID_SYSTEM = 'https://fhir.nhs.uk/Id/dos-service-id';
/**
 * Organisations are identified by ODS code, and the national directory names each at this URL plus
 * its ODS code. References to an Organization (HealthcareService.providedBy, PractitionerRole.organization,
 * Location.managingOrganization) use that absolute URL, and an included Organization has it as its
 * entry's fullUrl, so the reference still resolves inside the Bundle. The assurance harness's
 * SFFSOrgsReturned check (SCAL P21) reads the Organization id from character 58 of providedBy,
 * i.e. after exactly this 57-character prefix.
 */
export const ODS_DIRECTORY_ORGANIZATION_URL = 'https://directory.spineservices.nhs.uk/STU3/Organization/';

/**
 * What the mapping reads from a PAS search: structurally the PAS port's SlotSearchResult, which
 * the worker passes straight in (this package does not depend on the PAS package).
 */
export interface SlotSearchRows {
  slots: { slotId: string; slotGuid: string; scheduleId: string; start: string; end: string; status: SlotStatusCode; deliveryChannel?: string }[];
  schedules: { scheduleId: string; serviceId: string; practitionerId?: string; practitionerRoleId?: string; locationId?: string }[];
  services: { serviceId: string; name: string; organizationId?: string; locationId?: string }[];
  practitioners: { practitionerId: string; title?: string; given?: string; family: string; sdsUserId?: string; sdsRoleProfileId?: string }[];
  practitionerRoles: { roleId: string; practitionerId: string; organizationId?: string; jobRoleCode?: string; jobRoleName?: string }[];
  locations: { locationId: string; name: string; organizationId?: string; phone?: string; address?: AddressRow }[];
  organizations: { organizationId: string; name: string; phone?: string; address?: AddressRow }[];
}

interface AddressRow {
  lines: string[];
  city?: string;
  postalCode?: string;
}

export interface BundleContext {
  /** Consumer-facing service root, no trailing slash: fullUrls are `${baseUrl}/Type/id`. */
  baseUrl: string;
  /** The request URL as received, for the self link. */
  selfLink: string;
  bundleId: string;
  lastUpdated: string;
  /** Schedule.identifier.system of the clinic codes (SCHEDULE_ID_SYSTEM). */
  scheduleIdSystem: string;
}

/**
 * The searchset Bundle: the Slots, then each included resource once. `_include` follows the
 * reference graph as FHIR does, so every included resource is one that a returned Slot leads to
 * (§8.3 "only resources related to the returned Slots") and that something in the Bundle
 * references: Schedules the Slots name; the HealthcareServices, PractitionerRoles and
 * Practitioners their actors name (a Practitioner also through an included PractitionerRole);
 * the Organization an included HealthcareService is `providedBy` (the harness wants no other);
 * the Locations an included HealthcareService or Schedule names, which come with
 * `HealthcareService:location` (the only Location include §8.2 lists).
 */
export function slotSearchBundle(rows: SlotSearchRows, include: readonly IncludableType[], ctx: BundleContext): JsonObject {
  const asked = new Set(include);
  const fromSchedule = (type: IncludableType) => asked.has('Schedule') && asked.has(type);
  const fromService = (type: IncludableType) => fromSchedule('HealthcareService') && asked.has(type);

  const servicesById = new Map(rows.services.map((s) => [s.serviceId, s]));
  const slotSchedules = new Set(rows.slots.map((s) => `Schedule/${s.scheduleId}`));
  const schedules = asked.has('Schedule')
    ? rows.schedules.filter((s) => slotSchedules.has(`Schedule/${s.scheduleId}`)).map((s) => scheduleResource(s, servicesById.get(s.serviceId), ctx.scheduleIdSystem))
    : [];
  const actors = new Set(schedules.flatMap((s) => (s.actor as { reference: string }[]).map((a) => a.reference)));
  const services = fromSchedule('HealthcareService') ? rows.services.filter((s) => actors.has(`HealthcareService/${s.serviceId}`)).map(healthcareServiceResource) : [];
  const roles = fromSchedule('PractitionerRole') ? rows.practitionerRoles.filter((r) => actors.has(`PractitionerRole/${r.roleId}`)) : [];
  const practitionerRefs = new Set([...actors, ...roles.map((r) => `Practitioner/${r.practitionerId}`)]);
  const practitioners = fromSchedule('Practitioner') ? rows.practitioners.filter((p) => practitionerRefs.has(`Practitioner/${p.practitionerId}`)) : [];
  const serviceRefs = new Set(services.flatMap((s) => [(s.providedBy as { reference: string } | undefined)?.reference, ...((s.location as { reference: string }[] | undefined) ?? []).map((l) => l.reference)]));
  const organizations = fromService('Organization') ? rows.organizations.filter((o) => serviceRefs.has(organizationRef(o.organizationId).reference)) : [];
  const locations = fromService('Location') ? rows.locations.filter((l) => serviceRefs.has(`Location/${l.locationId}`) || actors.has(`Location/${l.locationId}`)) : [];

  const included: JsonObject[] = [
    ...schedules,
    ...practitioners.map(practitionerResource),
    ...roles.map(practitionerRoleResource),
    ...services,
    ...organizations.map(organizationResource),
    ...locations.map(locationResource),
  ];
  const entry = (resource: JsonObject, mode: 'match' | 'include'): JsonObject => ({
    // An Organization is the directory's, at its directory URL (ODS_DIRECTORY_ORGANIZATION_URL).
    fullUrl: resource.resourceType === 'Organization' ? organizationRef(resource.id as string).reference : `${ctx.baseUrl}/${resource.resourceType as string}/${resource.id as string}`,
    resource,
    search: { mode },
  });
  const entries = [...rows.slots.map((s) => entry(slotResource(s), 'match')), ...included.map((r) => entry(r, 'include'))];
  return {
    resourceType: 'Bundle',
    id: ctx.bundleId,
    meta: { lastUpdated: ctx.lastUpdated },
    type: 'searchset',
    total: rows.slots.length,
    link: [{ relation: 'self', url: ctx.selfLink }],
    // §8.3: no matches → no resources at all.
    ...(entries.length > 0 ? { entry: entries } : {}),
  };
}

const ref = (type: string, id: string) => ({ reference: `${type}/${id}` });
/** An Organization by ODS code, at the national directory's URL. */
const organizationRef = (odsCode: string) => ({ reference: `${ODS_DIRECTORY_ORGANIZATION_URL}${odsCode}` });

function slotResource(s: SlotSearchRows['slots'][number]): JsonObject {
  return {
    resourceType: 'Slot',
    id: s.slotId,
    meta: { profile: [PROFILES.Slot] },
    // Only when the PAS recorded it: a defaulted channel would mislead the patient (§8.3).
    ...(s.deliveryChannel ? { extension: [{ url: EXTENSIONS.deliveryChannel, valueCode: s.deliveryChannel }] } : {}),
    identifier: [{ system: SYSTEMS.rfc4122, value: s.slotGuid }],
    schedule: ref('Schedule', s.scheduleId),
    status: s.status,
    start: s.start,
    end: s.end,
  };
}

/**
 * Actors: the HealthcareService always (§19 #16), then at most two of Practitioner,
 * PractitionerRole and Location (the harness allows 1–3 actors). When the HealthcareService's
 * `location` already names the Schedule's site, the Location is the one that makes way (as for the
 * demo PAS). When it cannot (the service runs clinics at several sites and names none, or another
 * one), the site goes on the Schedule and the Practitioner makes way instead: the PractitionerRole
 * still references it (PractitionerRole.practitioner), so a consumer reaches the clinician, and
 * following Slot → Schedule → Location reaches the right site. Dropping the PractitionerRole
 * instead would leave the Practitioner's sds-role-profile-id pointing at a PractitionerRole that
 * nothing in the Bundle references.
 */
function scheduleResource(s: SlotSearchRows['schedules'][number], service: SlotSearchRows['services'][number] | undefined, idSystem: string): JsonObject {
  const siteOnService = !s.locationId || service?.locationId === s.locationId;
  const candidates = [
    s.practitionerId ? ref('Practitioner', s.practitionerId) : undefined,
    s.practitionerRoleId ? ref('PractitionerRole', s.practitionerRoleId) : undefined,
    s.locationId ? ref('Location', s.locationId) : undefined,
  ];
  // Which two to keep, most wanted first: indexes into candidates.
  const priority = siteOnService ? [0, 1, 2] : [2, 1, 0];
  const kept = new Set(priority.filter((i) => candidates[i]).slice(0, 2));
  const actor = [ref('HealthcareService', s.serviceId), ...candidates.filter((c, i): c is { reference: string } => c !== undefined && kept.has(i))];
  return {
    resourceType: 'Schedule',
    id: s.scheduleId,
    meta: { profile: [PROFILES.Schedule] },
    identifier: [{ system: idSystem, value: s.scheduleId }],
    actor,
  };
}

/** Logical id and identifier are both the DoS service id (§19 #17). */
function healthcareServiceResource(s: SlotSearchRows['services'][number]): JsonObject {
  return {
    resourceType: 'HealthcareService',
    id: s.serviceId,
    meta: { profile: [PROFILES.HealthcareService] },
    identifier: [{ system: DOS_SERVICE_ID_SYSTEM, value: s.serviceId }],
    ...(s.organizationId ? { providedBy: organizationRef(s.organizationId) } : {}),
    ...(s.locationId ? { location: [ref('Location', s.locationId)] } : {}),
    name: s.name,
  };
}

function practitionerResource(p: SlotSearchRows['practitioners'][number]): JsonObject {
  const identifier = [
    ...(p.sdsUserId ? [{ system: SYSTEMS.sdsUserId, value: p.sdsUserId }] : []),
    // Equals the PractitionerRole's id: how the harness pairs them (§8.3).
    ...(p.sdsRoleProfileId ? [{ system: SYSTEMS.sdsRoleProfileId, value: p.sdsRoleProfileId }] : []),
  ];
  return {
    resourceType: 'Practitioner',
    id: p.practitionerId,
    meta: { profile: [PROFILES.Practitioner] },
    ...(identifier.length > 0 ? { identifier } : {}),
    name: [{ use: 'official', family: p.family, ...(p.given ? { given: [p.given] } : {}), ...(p.title ? { prefix: [p.title] } : {}) }],
  };
}

/** The id is the SDS role profile id, also its only identifier (§15). */
function practitionerRoleResource(r: SlotSearchRows['practitionerRoles'][number]): JsonObject {
  return {
    resourceType: 'PractitionerRole',
    id: r.roleId,
    meta: { profile: [PROFILES.PractitionerRole] },
    identifier: [{ system: SYSTEMS.sdsRoleProfileId, value: r.roleId }],
    practitioner: ref('Practitioner', r.practitionerId),
    ...(r.organizationId ? { organization: organizationRef(r.organizationId) } : {}),
    // The profile needs a display with the code; the code stands in when the PAS has no text.
    ...(r.jobRoleCode ? { code: [{ coding: [{ system: SYSTEMS.sdsJobRoleName, code: r.jobRoleCode, display: r.jobRoleName ?? r.jobRoleCode }] }] } : {}),
  };
}

function organizationResource(o: SlotSearchRows['organizations'][number]): JsonObject {
  return {
    resourceType: 'Organization',
    id: o.organizationId,
    meta: { profile: [PROFILES.Organization] },
    identifier: [{ system: SYSTEMS.odsOrganization, value: o.organizationId }],
    type: [{ coding: [{ system: 'http://hl7.org/fhir/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: o.name,
    ...contactDetails(o),
  };
}

function locationResource(l: SlotSearchRows['locations'][number]): JsonObject {
  return {
    resourceType: 'Location',
    id: l.locationId,
    meta: { profile: [PROFILES.Location] },
    identifier: [{ system: SYSTEMS.odsSite, value: l.locationId }],
    name: l.name,
    // STU3 Location.address is a single Address (Organization.address is a list).
    ...contactDetails(l, 'single'),
    ...(l.organizationId ? { managingOrganization: organizationRef(l.organizationId) } : {}),
  };
}

function contactDetails(row: { phone?: string; address?: AddressRow }, addressCardinality: 'list' | 'single' = 'list'): JsonObject {
  const a = row.address;
  const address = a ? { use: 'work', ...(a.lines.length > 0 ? { line: a.lines } : {}), ...(a.city ? { city: a.city } : {}), ...(a.postalCode ? { postalCode: a.postalCode } : {}) } : undefined;
  return {
    ...(row.phone ? { telecom: [{ system: 'phone', value: row.phone, use: 'work' }] } : {}),
    ...(address ? { address: addressCardinality === 'list' ? [address] : address } : {}),
  };
}
