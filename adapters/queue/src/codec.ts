import type { PasJob, WorkerReply } from './contract.js';
import type { Keyring, Sealed } from './sealing.js';

/**
 * What actually sits in Redis. The job kind, the log-correlation id and the deadline stay in clear
 * (the dashboard and the worker need them); the job itself and its reply are sealed, whatever the
 * kind: bookings and cancels carry a Patient, reads return one, and sealing everything means no
 * new job kind can leak patient data by forgetting to ask for it.
 */
export interface StoredJob {
  kind: PasJob['kind'];
  traceRequestId: string;
  /** Epoch ms after which nobody waits for the answer: the worker then does nothing (no blind retries). */
  deadline: number;
  sealed: Sealed;
}

export interface StoredReply {
  sealed: Sealed;
}

export function encodeJob(job: PasJob, deadline: number, keyring: Keyring): StoredJob {
  return { kind: job.kind, traceRequestId: job.traceRequestId, deadline, sealed: keyring.seal(job) };
}

/** Throws when the job cannot be decoded (unknown key, tampering, wrong shape). */
export function decodeJob(stored: StoredJob, keyring: Keyring): PasJob {
  const job = keyring.open<PasJob>(stored?.sealed);
  if (!job || typeof job !== 'object' || job.kind !== stored.kind) throw new Error('malformed job payload');
  return job;
}

export function encodeReply(reply: WorkerReply, keyring: Keyring): StoredReply {
  return { sealed: keyring.seal(reply) };
}

export function decodeReply(stored: StoredReply, keyring: Keyring): WorkerReply {
  return keyring.open<WorkerReply>(stored?.sealed);
}
