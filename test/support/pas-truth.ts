import { Client, type FhirResource } from 'fhir-kit-client';
import { spineCodeOf } from '@booking/fhir';
import { bookingBody, consumerHeaders, type InteractionName, type SlotForBooking } from './consumer.js';

/**
 * A national consumer's side of the PAS-is-the-truth scenarios, through fhir-kit-client: every
 * answer comes back as { status, body, etag } whether the facade said 2xx or not.
 */

export type Json = Record<string, any>;

export interface Answer {
  status: number;
  body: Json;
  etag?: string | null;
}

export function consumer(baseUrl: string) {
  const client = new Client({ baseUrl });
  const options = (interaction: InteractionName, extra: Record<string, string> = {}) => ({ headers: consumerHeaders(baseUrl, interaction, extra) });

  async function answer(run: () => Promise<unknown>): Promise<Answer> {
    try {
      const body = (await run()) as Json;
      const res = Client.httpFor(body as FhirResource).response as Response;
      return { status: res.status, body, etag: res.headers.get('etag') };
    } catch (error) {
      const response = (error as { response?: { status: number; data: Json } }).response;
      if (!response) throw error;
      return { status: response.status, body: response.data };
    }
  }

  return {
    book: (slot: SlotForBooking, patient?: { nhsNumber?: string; family?: string }) =>
      answer(() => client.create({ resourceType: 'Appointment', body: bookingBody(slot, patient) as never, options: options('book') })),
    read: (id: string) => answer(() => client.read({ resourceType: 'Appointment', id, options: options('read') })),
    vread: (id: string, version: string) => answer(() => client.vread({ resourceType: 'Appointment', id, version, options: options('read') })),
    searchById: (id: string) => answer(() => client.search({ resourceType: 'Appointment', searchParams: { _id: id }, options: options('searchAppointment') })),
    /** The consumer cancels the version it holds, sending that version's ETag as If-Match. */
    cancel: (held: Json, ifMatch: string) =>
      answer(() => client.update({ resourceType: 'Appointment', id: held.id, body: { ...held, status: 'cancelled' } as never, options: options('cancel', { 'If-Match': ifMatch }) })),
  };
}

/** The Spine error code (or FHIR issue type) of an OperationOutcome, and its diagnostics. */
export function outcome(body: Json): { code?: string; diagnostics?: string } {
  return { code: spineCodeOf(body), diagnostics: body?.issue?.[0]?.diagnostics };
}

/**
 * Whether an Appointment's slot is the given slot: by the contained Slot's identifier (the legacy
 * SLOT_GUID) when it has one, else by its id, or a `Slot/{id}` reference. A `#id` reference that
 * resolves to nothing falls back to the one contained Slot (slotReferenceResolves catches that).
 */
export function holdsSlot(appointment: Json, slot: SlotForBooking): boolean {
  const reference = String(appointment.slot?.[0]?.reference ?? '');
  if (!reference.startsWith('#')) return reference === `Slot/${slot.id}`;
  const slots = ((appointment.contained as Json[] | undefined) ?? []).filter((r) => r.resourceType === 'Slot');
  const contained = slots.find((r) => r.id === reference.slice(1)) ?? (slots.length === 1 ? slots[0] : undefined);
  const identifier = contained?.identifier?.[0]?.value as string | undefined;
  return identifier ? identifier.toLowerCase() === slot.identifier.toLowerCase() : contained?.id === slot.id;
}

/** Whether Appointment.slot[0] resolves (a `#id` must name a contained resource). */
export function slotReferenceResolves(appointment: Json): boolean {
  const reference = String(appointment.slot?.[0]?.reference ?? '');
  return !reference.startsWith('#') || ((appointment.contained as Json[] | undefined) ?? []).some((r) => r.id === reference.slice(1));
}

