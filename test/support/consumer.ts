import { bookingAppointment, type ConsumerIdentity, INTERACTIONS, type InteractionName, type SlotRef, sspHeaders, unsignedJwt } from '@booking/cli/consumer';
import { PROVIDER_ASID } from './stack.js';

/** What a national consumer sends through the SSP, from the product's own consumer kit. */

export type { InteractionName };
export const INTERACTION_IDS = Object.fromEntries(Object.entries(INTERACTIONS).map(([k, v]) => [k, v.id])) as { [K in InteractionName]: (typeof INTERACTIONS)[K]['id'] };
export const SCOPES = Object.fromEntries(Object.entries(INTERACTIONS).map(([k, v]) => [k, v.scope])) as { [K in InteractionName]: (typeof INTERACTIONS)[K]['scope'] };

/** The test consumer: a 111 service with a named practitioner. */
const TEST_CONSUMER: ConsumerIdentity = {
  iss: 'https://consumer.example.nhs.uk/',
  sub: '10019',
  device: { system: 'https://consumer.example.nhs.uk/Id/device', value: 'test-device', model: 'Test Consumer' },
  organization: { name: 'Test 111 Service', ods: 'RYA' },
  practitioner: { family: 'Tester', given: 'Tess' },
};

/** An unsigned SSP-style JWT; `claims` overrides any default claim (undefined removes it). */
export function makeJwt(audience: string, scope: string, claims: Record<string, unknown> = {}): string {
  return unsignedJwt(audience, scope, TEST_CONSUMER, claims);
}

/** Every header a consumer sends for an interaction; `overrides` replaces or (undefined) removes. */
export function consumerHeaders(baseUrl: string, interaction: InteractionName, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    ...sspHeaders({ audience: baseUrl, interaction, toAsid: PROVIDER_ASID, fromAsid: '200000000115', who: TEST_CONSUMER }),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => e[1] !== undefined));
}

export interface SlotForBooking extends SlotRef {
  identifier: string;
}

/** A Booking API Appointment for a slot, for the test patient Jane Bloggs (NHS number 9658218873). */
export function bookingBody(slot: SlotForBooking, patient: { nhsNumber?: string; family?: string } = {}): Record<string, unknown> {
  const nhsNumber = 'nhsNumber' in patient ? patient.nhsNumber : '9658218873';
  return bookingAppointment(
    slot,
    {
      ...(nhsNumber ? { nhsNumber } : {}),
      prefix: 'Mrs',
      given: ['Jane'],
      family: patient.family ?? 'Bloggs',
      gender: 'female',
      birthDate: '1970-01-01',
      phone: '01234 567890',
      address: { line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' },
    },
    'Reason for calling',
  );
}
