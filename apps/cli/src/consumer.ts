import { randomUUID } from 'node:crypto';
import { EXTENSIONS, NHS_NUMBER_VERIFICATION_STATUSES, PROFILES, SYSTEMS } from '@booking/fhir/types';

/**
 * What a national consumer sends through the SSP (spec §3, §5, §6, §9.1): the interaction ids and
 * scopes, an unsigned SSP-style JWT, the SSP headers, and a Booking API Appointment for a slot.
 * One kit for the smoke test, the embedded demo and the test suites, so they cannot drift apart.
 */

const URN = 'urn:nhs:names:services:careconnect:fhir:rest';
export const INTERACTIONS = {
  metadata: { id: `${URN}:read:metadata`, scope: 'organization/slot.read' },
  searchSlot: { id: `${URN}:search:slot`, scope: 'organization/slot.read' },
  book: { id: `${URN}:create:appointment`, scope: 'patient/appointment.write' },
  read: { id: `${URN}:read:appointment`, scope: 'patient/appointment.read' },
  cancel: { id: `${URN}:update:appointment`, scope: 'patient/appointment.write' },
  searchAppointment: { id: `${URN}:search:appointment`, scope: 'patient/appointment.read' },
} as const;
export type InteractionName = keyof typeof INTERACTIONS;

/** Who the consumer says it is, in the JWT. */
export interface ConsumerIdentity {
  iss: string;
  sub: string;
  device: { system: string; value: string; model: string };
  organization: { name: string; ods: string };
  /** A requesting_practitioner claim is optional (spec §5.2). */
  practitioner?: { family: string; given: string };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * An unsigned SSP JWT (alg none, empty signature, exp = iat + 300). `claims` overrides any claim;
 * an undefined value removes it (tests use that to break tokens).
 */
export function unsignedJwt(audience: string, scope: string, who: ConsumerIdentity, claims: Record<string, unknown> = {}): string {
  const iat = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = {
    iss: who.iss,
    sub: who.sub,
    aud: audience,
    exp: iat + 300,
    iat,
    reason_for_request: 'directcare',
    requested_scope: scope,
    requesting_device: { resourceType: 'Device', identifier: [{ system: who.device.system, value: who.device.value }], model: who.device.model, version: '1.0' },
    requesting_organization: { resourceType: 'Organization', name: who.organization.name, identifier: [{ system: SYSTEMS.odsOrganization, value: who.organization.ods }] },
    ...(who.practitioner ? { requesting_practitioner: { resourceType: 'Practitioner', id: who.sub, name: [{ family: who.practitioner.family, given: [who.practitioner.given] }] } } : {}),
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

/** Every header the SSP delivers for an interaction, with a fresh JWT and trace id. */
export function sspHeaders(o: { audience: string; interaction: InteractionName; toAsid: string; fromAsid: string; who: ConsumerIdentity }): Record<string, string> {
  const { id, scope } = INTERACTIONS[o.interaction];
  const writes = o.interaction === 'book' || o.interaction === 'cancel';
  return {
    Authorization: `Bearer ${unsignedJwt(o.audience, scope, o.who)}`,
    'Ssp-TraceID': randomUUID(),
    'Ssp-From': o.fromAsid,
    'Ssp-To': o.toAsid,
    'Ssp-InteractionID': id,
    Accept: 'application/fhir+json',
    ...(writes ? { 'X-Request-ID': randomUUID(), 'Content-Type': 'application/fhir+json' } : {}),
  };
}

/** A slot as a consumer copies it from a search result (spec §9.1). */
export interface SlotRef {
  id: string;
  /** The slot's RFC 4122 identifier. */
  identifier?: string;
  /** `Schedule/{id}`. */
  schedule: string;
  start: string;
  end: string;
}

export interface PatientSketch {
  /** Omitted: a patient without an NHS number (no identifier at all, spec §9.1). */
  nhsNumber?: string;
  prefix?: string;
  given: string[];
  family: string;
  gender: 'male' | 'female' | 'other' | 'unknown';
  birthDate: string;
  phone: string;
  address: { line: string[]; city: string; postalCode: string };
}

/** A Booking API Appointment for a slot, shaped like the assurance harness's request. */
export function bookingAppointment(slot: SlotRef, patient: PatientSketch, description: string): Record<string, unknown> {
  const nhs = patient.nhsNumber ? { use: 'official', system: SYSTEMS.nhsNumber, value: patient.nhsNumber } : undefined;
  return {
    resourceType: 'Appointment',
    meta: { profile: [PROFILES.Appointment] },
    language: 'en-GB',
    contained: [
      {
        resourceType: 'DocumentReference',
        id: 'doc1',
        meta: { profile: [PROFILES.DocumentReference] },
        identifier: [{ system: SYSTEMS.rfc4122, value: randomUUID() }],
        status: 'current',
        type: { coding: [{ system: 'urn:oid:2.16.840.1.113883.2.1.3.2.4.18.17', code: 'POCD_MT200001GB02', display: 'Integrated Urgent Care Report' }] },
        indexed: new Date().toISOString(),
        content: [{ attachment: { contentType: 'application/hl7-v3+xml', language: 'en' } }],
      },
      {
        resourceType: 'Patient',
        id: 'P1',
        meta: { profile: [PROFILES.Patient] },
        ...(nhs
          ? {
              identifier: [
                {
                  extension: [
                    {
                      url: EXTENSIONS.nhsNumberVerificationStatus,
                      valueCodeableConcept: { coding: [{ system: SYSTEMS.nhsNumberVerificationStatus, code: '01', display: NHS_NUMBER_VERIFICATION_STATUSES['01'] }] },
                    },
                  ],
                  ...nhs,
                },
              ],
            }
          : {}),
        name: [{ use: 'official', ...(patient.prefix ? { prefix: [patient.prefix] } : {}), given: patient.given, family: patient.family }],
        telecom: [{ system: 'phone', value: patient.phone, use: 'home', rank: 1 }],
        gender: patient.gender,
        birthDate: patient.birthDate,
        address: [{ use: 'home', ...patient.address }],
      },
      {
        resourceType: 'Slot',
        id: slot.id,
        ...(slot.identifier ? { identifier: [{ system: SYSTEMS.rfc4122, value: slot.identifier }] } : {}),
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
    description,
    slot: [{ reference: `#${slot.id}` }],
    supportingInformation: [{ reference: '#doc1' }],
    participant: [{ actor: { reference: '#P1', ...(nhs ? { identifier: nhs } : {}), display: `${patient.given.join(' ')} ${patient.family}` }, status: 'accepted' }],
  };
}
