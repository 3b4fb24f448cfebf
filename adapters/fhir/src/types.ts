/** Minimal STU3 shapes: resources are plain JSON, these types only name what the code reads. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface Resource extends JsonObject {
  resourceType: string;
}

export const CARECONNECT = 'https://fhir.hl7.org.uk/STU3/StructureDefinition';
export const PROFILES = {
  Appointment: `${CARECONNECT}/CareConnect-Appointment-1`,
  Slot: `${CARECONNECT}/CareConnect-Slot-1`,
  Schedule: `${CARECONNECT}/CareConnect-Schedule-1`,
  HealthcareService: `${CARECONNECT}/CareConnect-HealthcareService-1`,
  Practitioner: `${CARECONNECT}/CareConnect-Practitioner-1`,
  PractitionerRole: `${CARECONNECT}/CareConnect-PractitionerRole-1`,
  Organization: `${CARECONNECT}/CareConnect-Organization-1`,
  Location: `${CARECONNECT}/CareConnect-Location-1`,
  Patient: `${CARECONNECT}/CareConnect-Patient-1`,
  DocumentReference: `${CARECONNECT}/CareConnect-DocumentReference-1`,
} as const;

export const SYSTEMS = {
  nhsNumber: 'https://fhir.nhs.uk/Id/nhs-number',
  rfc4122: 'https://tools.ietf.org/html/rfc4122',
  odsOrganization: 'https://fhir.nhs.uk/Id/ods-organization-code',
  odsSite: 'https://fhir.nhs.uk/Id/ods-site-code',
  sdsUserId: 'https://fhir.nhs.uk/Id/sds-user-id',
  sdsRoleProfileId: 'https://fhir.nhs.uk/Id/sds-role-profile-id',
  sdsJobRoleName: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1',
  nhsNumberVerificationStatus: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1',
} as const;

/**
 * The CareConnect NHSNumberVerificationStatus codes with their display texts, as
 * CodeSystem-CareConnect-NHSNumberVerificationStatus-1 has them.
 */
export const NHS_NUMBER_VERIFICATION_STATUSES: Readonly<Record<string, string>> = {
  '01': 'Number present and verified',
  '02': 'Number present but not traced',
  '03': 'Trace required',
  '04': 'Trace attempted - No match or multiple match found',
  '05': 'Trace needs to be resolved - (NHS number or patient detail conflict)',
  '06': 'Trace in progress',
  '07': 'Number not present and trace not required',
  '08': 'Trace postponed (baby under six weeks old)',
};

export const EXTENSIONS = {
  nhsNumberVerificationStatus: `${CARECONNECT}/Extension-CareConnect-NHSNumberVerificationStatus-1`,
  deliveryChannel: `${CARECONNECT}/Extension-CareConnect-DeliveryChannel-1`,
  cancellationReason: `${CARECONNECT}/Extension-CareConnect-AppointmentCancellationReason-1`,
} as const;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
