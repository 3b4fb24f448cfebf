import { cancelledAppointment, checkCancellation, isObject, problems } from '@booking/fhir';
import type { PasPort, ReplayedWrite } from '@booking/pas';
import type { CancelJob, WorkerReply } from '@booking/queue';
import { resourceReply } from './book.js';

export interface CancelDeps {
  pas: PasPort;
  localPatientIdSystem: string;
  retry: <T>(run: () => Promise<T>) => Promise<T>;
  /** The last moment the write may commit (epoch ms; the job's deadline less DEADLINE_MARGIN_MS): its PAS transaction rolls back if it begins or ends past it. */
  deadline?: number;
  /** The clock `deadline` is on: Redis's (the queue's), shared with the facade that stamped it. */
  now?: () => number;
}

const IF_MATCH = /^W\/"(\d{1,9})"$/;

/**
 * Cancels in the order the assurance harness expects (spec §18): unknown → 404, If-Match missing
 * → 412, malformed or stale → 409, a final state (cancelled, fulfilled, noshow) → 422
 * INVALID_REQUEST_STATE, then the content (only status may change) → 422, then the transaction in
 * the PAS, which decides again from the legacy rows (a PAS-side change since the read → 409; a
 * final state, or an appointment that has begun → 422) and frees the slot the legacy appointment holds now.
 */
export async function handleCancel(job: CancelJob, jobId: string, deps: CancelDeps): Promise<WorkerReply> {
  const current = await deps.retry(() => deps.pas.readAppointment(job.appointmentId));
  if (!current) {
    // A re-executed job whose first run committed still finds the appointment, so 404 is final.
    return { type: 'problem', problem: problems.notFound(`Appointment/${job.appointmentId} is not known to this provider; a PUT never creates`) };
  }
  if (job.ifMatch === undefined) return { type: 'problem', problem: problems.preconditionRequired('If-Match is required to cancel: send W/"<versionId>" of the version you read') };
  const expected = IF_MATCH.exec(job.ifMatch.trim())?.[1];
  if (!expected) return { type: 'problem', problem: problems.versionConflict(`If-Match must be W/"<versionId>"; got ${JSON.stringify(job.ifMatch.slice(0, 40))}`) };

  const submitted = job.appointment;
  if (!isObject(submitted) || submitted.resourceType !== 'Appointment') return { type: 'problem', problem: problems.badRequest('The body must be an Appointment') };
  if (submitted.id !== job.appointmentId) return { type: 'problem', problem: problems.badRequest('Appointment.id must equal the id in the URL', ['Appointment.id']) };

  // A retry of a cancel that already committed: the original answer for the same job, else 409.
  const earlier = await deps.retry(() => deps.pas.findWrite({ requestId: job.requestId, jobId }));
  if (earlier) return replayed(job, earlier);
  if (expected !== current.versionId) {
    return { type: 'problem', problem: problems.versionConflict(`If-Match W/"${expected}" is stale: the current version is ${current.versionId}`) };
  }
  // Read from the PAS rows just now: cancelled, attended or not attended on either side is final.
  if (current.status === 'cancelled') return { type: 'problem', problem: problems.invalidState('The appointment is already cancelled') };
  if (current.status !== 'booked' && current.status !== 'arrived') {
    return { type: 'problem', problem: problems.invalidState(`The appointment is ${current.status} and can no longer be cancelled`) };
  }

  const problem = checkCancellation(current.resource as never, submitted, deps.localPatientIdSystem);
  if (problem) return { type: 'problem', problem };

  const nextVersion = String(Number(current.versionId) + 1);
  const lastUpdated = new Date().toISOString();
  const result = await deps.retry(() =>
    deps.pas.cancel({
      requestId: job.requestId,
      jobId,
      appointmentId: job.appointmentId,
      expectedVersionId: current.versionId,
      lastUpdated,
      resource: cancelledAppointment(current.resource as never, submitted, { id: job.appointmentId, versionId: nextVersion, lastUpdated }),
      ...(deps.deadline !== undefined ? { deadline: deps.deadline } : {}),
      ...(deps.now !== undefined ? { now: deps.now } : {}),
    }),
  );
  switch (result.outcome) {
    case 'cancelled':
      return resourceReply(result.version, 200);
    case 'replayed':
      return replayed(job, result);
    case 'not-found':
      return { type: 'problem', problem: problems.notFound(`Appointment/${job.appointmentId} is not known to this provider`) };
    case 'version-conflict':
      return { type: 'problem', problem: problems.versionConflict(`The appointment changed meanwhile: the current version is ${result.currentVersionId}`) };
    case 'invalid-state':
      if (result.started) return { type: 'problem', problem: problems.invalidState(`The appointment has begun (it started at ${result.started}) and can no longer be cancelled`) };
      return { type: 'problem', problem: problems.invalidState(`The appointment is ${result.status} and can no longer be cancelled`) };
  }
}

function replayed(job: CancelJob, result: ReplayedWrite): WorkerReply {
  if (result.sameJob) return { ...resourceReply(result.version, 200), replayed: true };
  return {
    type: 'problem',
    problem: problems.duplicate(`X-Request-ID ${job.requestId} was already used for Appointment/${result.appointmentId}`),
    contentLocation: `Appointment/${result.appointmentId}/_history/${result.version.versionId}`,
  };
}
