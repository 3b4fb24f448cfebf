import { readFileSync } from 'node:fs';
import { capabilityStatement } from '@booking/fhir';
import { supportedInteractions } from './interactions.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Booking API version implemented (spec §1). */
const BOOKING_API_VERSION = '2.0.4';

/**
 * The answer to GET [base]/metadata. The statement describes this software, not PAS data, so the
 * facade answers it itself: it stays available as the de facto liveness call (spec §6) even when
 * the PAS is not.
 */
export function metadataStatement(options: { publisher: string; softwareName: string }) {
  // Frozen: it never changes while the facade runs, so its answer is serialised once (fhir-response.ts).
  return Object.freeze(capabilityStatement({
    publisher: options.publisher,
    softwareName: options.softwareName,
    softwareVersion: pkg.version,
    apiVersion: BOOKING_API_VERSION,
    appointmentInteractions: supportedInteractions('Appointment'),
    slotInteractions: supportedInteractions('Slot'),
  }));
}
