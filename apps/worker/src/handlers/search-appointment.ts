import { randomUUID } from 'node:crypto';
import { appointmentSearchSummary, type JsonObject } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import { bundleReply, type SearchAppointmentJob, type WorkerReply } from '@booking/queue';

/** The spec says a patient search must not page; this caps a pathological result instead. */
const MAX_APPOINTMENTS = 1000;

/**
 * The registry-era Appointment search (spec §12), offered because the CapabilityStatement template
 * advertises it: the patient's upcoming appointments by NHS number, or one by id, as a searchset of
 * limited content (appointmentSearchSummary): any organisation with the read scope may search.
 */
export async function handleSearchAppointment(job: SearchAppointmentJob, deps: { pas: PasPort; retry: <T>(run: () => Promise<T>) => Promise<T> }): Promise<WorkerReply> {
  const versions = await deps.retry(() =>
    deps.pas.searchAppointments({
      ...(job.nhsNumber !== undefined ? { nhsNumber: job.nhsNumber } : {}),
      ...(job.appointmentId !== undefined ? { appointmentId: job.appointmentId } : {}),
      endedBefore: new Date().toISOString(),
      limit: MAX_APPOINTMENTS,
    }),
  );
  const bundle: JsonObject = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    total: versions.length,
    link: [{ relation: 'self', url: job.selfLink }],
    // Not the registry page's `…/_history/{vid}` (§12): STU3's bdl-8 forbids a version-specific fullUrl.
    ...(versions.length
      ? { entry: versions.map((v) => ({ fullUrl: `${job.baseUrl}/Appointment/${v.appointmentId}`, resource: appointmentSearchSummary(v.resource as JsonObject), search: { mode: 'match' } })) }
      : {}),
  };
  return bundleReply(bundle);
}
