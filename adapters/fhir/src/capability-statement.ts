import { PROFILES } from './types.js';

/**
 * The CapabilityStatement (spec §7), built from what this server supports: the interactions and
 * search parameters are passed in by the facade from its own routing table, not written by hand.
 */

export interface CapabilityOptions {
  publisher: string;
  softwareName: string;
  softwareVersion: string;
  /** When this software version was released (ISO date). */
  releaseDate?: string;
  /** The Booking API version implemented. */
  apiVersion: string;
  appointmentInteractions: string[];
  slotInteractions: string[];
}

export const SLOT_SEARCH_INCLUDES = [
  'Slot:schedule',
  'Schedule:actor:Practitioner',
  'Schedule:actor:PractitionerRole',
  'Schedule:actor:HealthcareService',
  'HealthcareService:providedBy',
  'HealthcareService:location',
];

export function capabilityStatement(o: CapabilityOptions) {
  return {
    resourceType: 'CapabilityStatement',
    version: o.apiVersion,
    name: 'Care Connect',
    status: 'active',
    date: o.releaseDate ?? new Date().toISOString().slice(0, 10),
    publisher: o.publisher,
    contact: [{ name: o.publisher }],
    description: `NHS Booking API ${o.apiVersion} (FHIR STU3) provider over the trust's PAS`,
    copyright: 'Apache-2.0',
    // The spec's template (§7) says capability, which FHIR's cpb-15 allows only without `implementation`.
    kind: 'capability',
    software: { name: o.softwareName, version: o.softwareVersion, ...(o.releaseDate ? { releaseDate: o.releaseDate } : {}) },
    fhirVersion: '3.0.1',
    acceptUnknown: 'both',
    format: ['application/fhir+json', 'application/fhir+xml'],
    profile: Object.values(PROFILES).map((reference) => ({ reference })),
    rest: [
      {
        mode: 'server',
        security: { cors: true },
        resource: [
          {
            type: 'Appointment',
            profile: { reference: PROFILES.Appointment },
            interaction: o.appointmentInteractions.map((code) => ({ code })),
            // Every version is kept and an update must carry If-Match (412 without, 409 stale): STU3's versioned-update.
            versioning: 'versioned-update',
            readHistory: true,
            updateCreate: false,
            conditionalCreate: false,
            conditionalUpdate: false,
            conditionalDelete: 'not-supported',
            searchParam: [
              { name: 'identifier', type: 'token', documentation: 'The patient\u2019s NHS number: https://fhir.nhs.uk/Id/nhs-number|NNNNNNNNNN' },
              { name: '_id', type: 'token', documentation: 'The logical id of the Appointment' },
              { name: 'version', type: 'token', documentation: 'The version of the Booking API (accepted and ignored: one version is served)' },
            ],
          },
          {
            type: 'Slot',
            profile: { reference: PROFILES.Slot },
            interaction: o.slotInteractions.map((code) => ({ code })),
            searchInclude: SLOT_SEARCH_INCLUDES,
            searchParam: [
              { name: 'service', type: 'token', documentation: 'The directory (DoS) service id; also accepted as schedule.actor:healthcareservice; plain, system|value or HealthcareService/{id}' },
              { name: 'status', type: 'token', documentation: 'Slot status; a comma-separated list means any of them' },
              { name: 'start', type: 'date', documentation: 'Bounds on Slot.start with ge/le/gt/lt prefixes; given at most twice' },
            ],
          },
        ],
        // No operations: FHIR JSON has no empty arrays, so `operation` is left out rather than [].
      },
    ],
  };
}
