import { randomUUID } from 'node:crypto';
import { PROVIDER_ASID } from './stack.js';

/** What a national consumer sends through the SSP (spec §3, §5, §6). */

const URN = 'urn:nhs:names:services:careconnect:fhir:rest';
export const INTERACTION_IDS = {
  metadata: `${URN}:read:metadata`,
  searchSlot: `${URN}:search:slot`,
  book: `${URN}:create:appointment`,
  read: `${URN}:read:appointment`,
  cancel: `${URN}:update:appointment`,
} as const;

export const SCOPES = {
  metadata: 'organization/slot.read',
  searchSlot: 'organization/slot.read',
  book: 'patient/appointment.write',
  read: 'patient/appointment.read',
  cancel: 'patient/appointment.write',
} as const;

export type InteractionName = keyof typeof INTERACTION_IDS;

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned SSP-style JWT; `claims` overrides any default claim (undefined removes it). */
export function makeJwt(audience: string, scope: string, claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: 'https://consumer.example.nhs.uk/',
    sub: '10019',
    aud: audience,
    exp: iat + 300,
    iat,
    reason_for_request: 'directcare',
    requested_scope: scope,
    requesting_device: { resourceType: 'Device', identifier: [{ system: 'https://consumer.example.nhs.uk/Id/device', value: 'test-device' }], model: 'Test Consumer', version: '1.0' },
    requesting_organization: { resourceType: 'Organization', name: 'Test 111 Service', identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RYA' }] },
    requesting_practitioner: { resourceType: 'Practitioner', id: '10019', name: [{ family: 'Tester', given: ['Tess'] }] },
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

/** Every header a consumer sends for an interaction; `overrides` replaces or (undefined) removes. */
export function consumerHeaders(baseUrl: string, interaction: InteractionName, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    Authorization: `Bearer ${makeJwt(baseUrl, SCOPES[interaction])}`,
    'Ssp-TraceID': randomUUID(),
    'Ssp-From': '200000000115',
    'Ssp-To': PROVIDER_ASID,
    'Ssp-InteractionID': INTERACTION_IDS[interaction],
    Accept: 'application/fhir+json',
    ...(interaction === 'book' || interaction === 'cancel' ? { 'X-Request-ID': randomUUID(), 'Content-Type': 'application/fhir+json' } : {}),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface SlotForBooking {
  id: string;
  identifier: string;
  schedule: string;
  start: string;
  end: string;
}

/** A Booking API Appointment for a slot, shaped like the assurance harness's request. */
export function bookingBody(slot: SlotForBooking, patient: { nhsNumber?: string; family?: string } = {}): Record<string, unknown> {
  const nhsNumber = 'nhsNumber' in patient ? patient.nhsNumber : '9658218873';
  return {
    resourceType: 'Appointment',
    meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Appointment-1'] },
    language: 'en-GB',
    contained: [
      {
        resourceType: 'DocumentReference',
        id: 'doc1',
        meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-DocumentReference-1'] },
        identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() }],
        status: 'current',
        type: { coding: [{ system: 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17', code: 'POCD_MT200001GB02', display: 'Integrated Urgent Care Report' }] },
        indexed: new Date().toISOString(),
        content: [{ attachment: { contentType: 'application/hl7-v3+xml', language: 'en' } }],
      },
      {
        resourceType: 'Patient',
        id: 'P1',
        meta: { profile: ['https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-Patient-1'] },
        ...(nhsNumber
          ? {
              identifier: [
                {
                  extension: [
                    {
                      url: 'https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-NHSNumberVerificationStatus-1',
                      valueCodeableConcept: { coding: [{ system: 'https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1', code: '01', display: 'Number present and verified' }] },
                    },
                  ],
                  use: 'official',
                  system: 'https://fhir.nhs.uk/Id/nhs-number',
                  value: nhsNumber,
                },
              ],
            }
          : {}),
        name: [{ use: 'official', prefix: ['Mrs'], given: ['Jane'], family: patient.family ?? 'Bloggs' }],
        telecom: [{ system: 'phone', value: '01234 567890', use: 'home', rank: 1 }],
        gender: 'female',
        birthDate: '1970-01-01',
        address: [{ use: 'home', line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' }],
      },
      {
        resourceType: 'Slot',
        id: slot.id,
        identifier: [{ system: 'https://tools.ietf.org/html/rfc4122', value: slot.identifier }],
        schedule: { reference: slot.schedule },
        status: 'busy',
        start: slot.start,
        end: slot.end,
      },
    ],
    status: 'booked',
    start: slot.start,
    end: slot.end,
    created: new Date().toISOString(),
    description: 'Reason for calling',
    slot: [{ reference: `#${slot.id}` }],
    supportingInformation: [{ reference: '#doc1' }],
    participant: [
      {
        actor: {
          reference: '#P1',
          ...(nhsNumber ? { identifier: { use: 'official', system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber } } : {}),
          display: `Jane ${patient.family ?? 'Bloggs'}`,
        },
        status: 'accepted',
      },
    ],
  };
}
