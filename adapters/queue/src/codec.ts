import { gzipSync } from 'node:zlib';
import type { BundleReply, PasJob, WorkerReply } from './contract.js';
import type { Keyring, Sealed } from './sealing.js';

/**
 * What actually sits in Redis. The job kind, the log-correlation id and the deadline stay in clear
 * (the dashboard and the worker need them); the job itself and its reply are sealed, whatever the
 * kind: bookings and cancels carry a Patient, reads return one, and sealing everything means no
 * new job kind can leak patient data by forgetting to ask for it.
 *
 * Each seal is bound (AES-GCM additional data) to what sits beside it in clear: a job's seal to
 * its job id, kind, log-correlation id and deadline; a reply's seal to its job id. Someone able to
 * write to Redis can therefore neither move a sealed reply onto another job, nor move a job's
 * payload under another id, nor push a deadline back: what does not open is refused. The job id
 * is chosen by the facade (a random UUID) before the job is added, so it can be sealed in.
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

/** The additional data a job's seal is bound to (JSON, so no field can bleed into another). */
function jobAad(jobId: string, clear: Pick<StoredJob, 'kind' | 'traceRequestId' | 'deadline'>): string {
  return JSON.stringify(['job', jobId, clear.kind, clear.traceRequestId, clear.deadline]);
}

function replyAad(jobId: string): string {
  return JSON.stringify(['reply', jobId]);
}

export function encodeJob(job: PasJob, jobId: string, deadline: number, keyring: Keyring): StoredJob {
  const clear = { kind: job.kind, traceRequestId: job.traceRequestId, deadline };
  return { ...clear, sealed: keyring.seal(job, jobAad(jobId, clear)) };
}

/** Throws when the job cannot be decoded (unknown key, tampering, sealed for another job id or other clear fields, wrong shape). */
export function decodeJob(stored: StoredJob, jobId: string, keyring: Keyring): PasJob {
  const job = keyring.open<PasJob>(stored?.sealed, jobAad(jobId, stored));
  if (!job || typeof job !== 'object' || job.kind !== stored.kind) throw new Error('malformed job payload');
  return job;
}

export function encodeReply(reply: WorkerReply, jobId: string, keyring: Keyring): StoredReply {
  return { sealed: keyring.seal(reply, replyAad(jobId), reply.type !== 'bundle') };
}

/** A searchset Bundle as the worker replies with it: serialised once, gzipped (contract.ts, BundleReply). */
export function bundleReply(bundle: object): BundleReply {
  return { type: 'bundle', gzip: gzipSync(JSON.stringify(bundle), { level: 1 }).toString('base64') };
}

/** Throws when the reply was not sealed for this job (or was tampered with). */
export function decodeReply(stored: StoredReply, jobId: string, keyring: Keyring): WorkerReply {
  return keyring.open<WorkerReply>(stored?.sealed, replyAad(jobId));
}
