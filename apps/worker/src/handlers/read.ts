import { problems } from '@booking/fhir';
import type { PasPort } from '@booking/pas';
import type { ReadJob, WorkerReply } from '@booking/queue';
import { resourceReply } from './book.js';

/** read and vread: every version the product wrote is kept and returned unchanged. */
export async function handleRead(job: ReadJob, deps: { pas: PasPort; retry: <T>(run: () => Promise<T>) => Promise<T> }): Promise<WorkerReply> {
  const version = await deps.retry(() => deps.pas.readAppointment(job.appointmentId, job.versionId));
  if (!version) {
    const what = job.versionId === undefined ? `Appointment/${job.appointmentId}` : `Appointment/${job.appointmentId}/_history/${job.versionId}`;
    return { type: 'problem', problem: problems.notFound(`${what} is not known to this provider`) };
  }
  return resourceReply(version, 200);
}
