/** The Booking API interactions (spec §6): how each is routed, named and authorised. */
export interface Interaction {
  name: 'metadata' | 'search-slot' | 'book' | 'read' | 'vread' | 'cancel' | 'search-appointment';
  /** The FHIR restful interaction code, for the CapabilityStatement. */
  fhirCode?: { type: 'Appointment' | 'Slot'; code: string };
  method: 'GET' | 'POST' | 'PUT';
  /** Path below the service root. */
  pattern: RegExp;
  interactionId: string;
  scope: string;
}

const URN = 'urn:nhs:names:services:careconnect:fhir:rest';

export const INTERACTIONS: Interaction[] = [
  { name: 'metadata', method: 'GET', pattern: /^\/metadata$/, interactionId: `${URN}:read:metadata`, scope: 'organization/slot.read' },
  { name: 'search-slot', method: 'GET', pattern: /^\/Slot$/, fhirCode: { type: 'Slot', code: 'search-type' }, interactionId: `${URN}:search:slot`, scope: 'organization/slot.read' },
  { name: 'book', method: 'POST', pattern: /^\/Appointment$/, fhirCode: { type: 'Appointment', code: 'create' }, interactionId: `${URN}:create:appointment`, scope: 'patient/appointment.write' },
  // Registry-era search (spec §12); the scope is unspecified there, so the read scope applies.
  { name: 'search-appointment', method: 'GET', pattern: /^\/Appointment$/, fhirCode: { type: 'Appointment', code: 'search-type' }, interactionId: `${URN}:search:appointment`, scope: 'patient/appointment.read' },
  { name: 'read', method: 'GET', pattern: /^\/Appointment\/[^/]+$/, fhirCode: { type: 'Appointment', code: 'read' }, interactionId: `${URN}:read:appointment`, scope: 'patient/appointment.read' },
  { name: 'vread', method: 'GET', pattern: /^\/Appointment\/[^/]+\/_history\/[^/]+$/, fhirCode: { type: 'Appointment', code: 'vread' }, interactionId: `${URN}:read:appointment`, scope: 'patient/appointment.read' },
  { name: 'cancel', method: 'PUT', pattern: /^\/Appointment\/[^/]+$/, fhirCode: { type: 'Appointment', code: 'update' }, interactionId: `${URN}:update:appointment`, scope: 'patient/appointment.write' },
];

/** The interaction for a method and path, or why there is none (unknown path → 404, wrong verb → 405). */
export function resolveInteraction(method: string, path: string): Interaction | 'not-found' | 'method-not-allowed' {
  const byPath = INTERACTIONS.filter((i) => i.pattern.test(path));
  if (byPath.length === 0) return 'not-found';
  // HEAD is a GET without a body as far as routing goes.
  const verb = method === 'HEAD' ? 'GET' : method;
  return byPath.find((i) => i.method === verb) ?? 'method-not-allowed';
}

/** The FHIR interaction codes this server supports for a resource type. */
export function supportedInteractions(type: 'Appointment' | 'Slot'): string[] {
  return INTERACTIONS.flatMap((i) => (i.fhirCode?.type === type ? [i.fhirCode.code] : []));
}
