import { randomUUID } from 'node:crypto';
import { problems, slotSearchBundle } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import { bundleReply, type SearchSlotJob, type WorkerReply } from '@booking/queue';

export interface SearchSlotDeps {
  pas: PasPort;
  /** Schedule.identifier.system (SCHEDULE_ID_SYSTEM). */
  scheduleIdSystem: string;
  retry: <T>(run: () => Promise<T>) => Promise<T>;
}

/** GET /Slot: one read of the PAS, answered as a searchset Bundle (spec §8). */
export async function handleSearchSlot(job: SearchSlotJob, deps: SearchSlotDeps): Promise<WorkerReply> {
  const { serviceId, statuses, startFrom, startTo, count, include } = job.search;
  const result = await deps.retry(() =>
    deps.pas.searchSlots({ serviceId, statuses, ...(startFrom ? { startFrom } : {}), ...(startTo ? { startTo } : {}), limit: count }),
  );
  // Spec §19 #5/#6: an unknown service is 404 NO_RECORD_FOUND (the UEC error table), not an empty
  // bundle, so a consumer with a wrong directory id learns it. A known service without matching
  // slots is 200 with an empty bundle (§8.4).
  if (!result.serviceKnown) {
    return { type: 'problem', problem: problems.notFound(`No bookable service ${serviceId} is known to this provider`) };
  }
  const bundle = slotSearchBundle(result, include, {
    baseUrl: job.baseUrl,
    selfLink: job.selfLink,
    bundleId: randomUUID(),
    lastUpdated: new Date().toISOString(),
    scheduleIdSystem: deps.scheduleIdSystem,
  });
  return bundleReply(bundle);
}
