import { randomUUID } from 'node:crypto';
import { bookedAppointment, checkBookingRequest, type Problem, problems } from '@booking/fhir';
import type { AppointmentVersion, BookCommand, PasPort } from '@booking/pas';
import type { BookJob, ResourceReply, WorkerReply } from '@booking/queue';

export interface BookDeps {
  pas: PasPort;
  localPatientIdSystem: string;
  retry: <T>(run: () => Promise<T>) => Promise<T>;
  /** The last moment the write may commit (epoch ms; the job's deadline less DEADLINE_MARGIN_MS): its PAS transaction rolls back if it begins or ends past it. */
  deadline?: number;
  /** The clock `deadline` is on: Redis's (the queue's), shared with the facade that stamped it. */
  now?: () => number;
}

/** A stored version as the facade's single-resource reply. */
export function resourceReply(version: AppointmentVersion, status: 200 | 201): ResourceReply {
  return {
    type: 'resource',
    status,
    resource: version.resource as never,
    resourceType: 'Appointment',
    id: version.appointmentId,
    versionId: version.versionId,
    lastUpdated: version.lastUpdated,
  };
}

/**
 * The PAS command for a booking request: checked again (the facade validated the body; checking
 * costs little and keeps a bad job from the PAS), with the server's id and time.
 */
export function bookCommand(job: Pick<BookJob, 'appointment' | 'requestId'>, jobId: string, localPatientIdSystem: string): BookCommand | Problem {
  const checked = checkBookingRequest(job.appointment, { fhirValidated: true }); // the facade ran the FHIR layer
  if (!checked.ok) return checked.problem;
  const booking = checked.value;
  const appointmentId = randomUUID();
  const lastUpdated = new Date().toISOString();
  return {
    requestId: job.requestId,
    jobId,
    appointmentId,
    slotId: booking.slotId,
    ...(booking.slotGuid ? { slotGuid: booking.slotGuid } : {}),
    start: booking.start,
    end: booking.end,
    reason: booking.description,
    patient: booking.patient,
    lastUpdated,
    buildResource: (hospitalNumber) =>
      bookedAppointment(job.appointment, { id: appointmentId, versionId: '1', lastUpdated }, { system: localPatientIdSystem, value: hospitalNumber }),
  };
}

/** Books the slot in one PAS transaction and answers with the stored version 1. */
export async function handleBook(job: BookJob, jobId: string, deps: BookDeps): Promise<WorkerReply> {
  const command = bookCommand(job, jobId, deps.localPatientIdSystem);
  if (!('requestId' in command)) return { type: 'problem', problem: command };
  if (deps.deadline !== undefined) command.deadline = deps.deadline;
  if (deps.now !== undefined) command.now = deps.now;
  const result = await deps.retry(() => deps.pas.book(command));

  switch (result.outcome) {
    case 'booked':
      return resourceReply(result.version, 201);
    case 'replayed':
      // A re-executed job finds its own committed booking: the original answer, not a 409.
      if (result.sameJob) return { ...resourceReply(result.version, 201), replayed: true };
      return {
        type: 'problem',
        problem: problems.duplicate(`X-Request-ID ${job.requestId} was already used to book Appointment/${result.appointmentId}`),
        contentLocation: `Appointment/${result.appointmentId}/_history/${result.version.versionId}`,
      };
    case 'slot-not-found':
      return { type: 'problem', problem: problems.referenceNotFound('The contained Slot does not match any slot of this provider') };
    case 'slot-unavailable':
      return { type: 'problem', problem: problems.slotUnavailable() };
    case 'slot-mismatch':
      return { type: 'problem', problem: problems.invalidResource(`Slot mismatch: ${result.reason}`, ['Appointment.slot']) };
  }
}
