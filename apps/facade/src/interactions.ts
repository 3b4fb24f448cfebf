/** The Booking API interactions (spec §6): how each is routed, named and authorised. */
export interface Interaction {
  name: 'metadata' | 'search-slot' | 'book' | 'read' | 'vread' | 'cancel';
  method: 'GET' | 'POST' | 'PUT';
  /** Path below the service root. */
  pattern: RegExp;
  interactionId: string;
  scope: string;
}

const URN = 'urn:nhs:names:services:careconnect:fhir:rest';

export const INTERACTIONS: Interaction[] = [
  { name: 'metadata', method: 'GET', pattern: /^\/metadata$/, interactionId: `${URN}:read:metadata`, scope: 'organization/slot.read' },
  { name: 'search-slot', method: 'GET', pattern: /^\/Slot$/, interactionId: `${URN}:search:slot`, scope: 'organization/slot.read' },
  { name: 'book', method: 'POST', pattern: /^\/Appointment$/, interactionId: `${URN}:create:appointment`, scope: 'patient/appointment.write' },
  { name: 'read', method: 'GET', pattern: /^\/Appointment\/[^/]+$/, interactionId: `${URN}:read:appointment`, scope: 'patient/appointment.read' },
  { name: 'vread', method: 'GET', pattern: /^\/Appointment\/[^/]+\/_history\/[^/]+$/, interactionId: `${URN}:read:appointment`, scope: 'patient/appointment.read' },
  { name: 'cancel', method: 'PUT', pattern: /^\/Appointment\/[^/]+$/, interactionId: `${URN}:update:appointment`, scope: 'patient/appointment.write' },
];

/** The interaction for a method and path, or why there is none (unknown path → 404, wrong verb → 405). */
export function resolveInteraction(method: string, path: string): Interaction | 'not-found' | 'method-not-allowed' {
  const byPath = INTERACTIONS.filter((i) => i.pattern.test(path));
  if (byPath.length === 0) return 'not-found';
  // HEAD is a GET without a body as far as routing goes.
  const verb = method === 'HEAD' ? 'GET' : method;
  return byPath.find((i) => i.method === verb) ?? 'method-not-allowed';
}
