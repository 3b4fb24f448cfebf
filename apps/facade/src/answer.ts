import { informationOutcome, problems } from '@booking/fhir';
import type { PasJob, WorkerReply } from '@booking/queue';
import type { Context } from 'hono';
import { noteBundle, noteResource } from './audit/middleware.js';
import type { AppEnv } from './env.js';
import { httpDate, inflateBundle, sendGzippedJson, sendResource, sendSerialised } from './fhir-response.js';
import { refuse } from './problem-error.js';
import { JobError, type JobRunner } from './job-runner.js';
import { requestHeader } from './request-headers.js';

/** What running a job and answering from its reply needs. */
export interface AnswerDeps {
  jobs: JobRunner;
  baseUrl: string;
  jobTimeoutMs: number;
}

/** Runs a job and turns its reply, or its absence, into the HTTP answer; problems are thrown to onError. */
export async function answer(c: Context<AppEnv>, deps: AnswerDeps, job: PasJob): Promise<Response> {
  let reply: WorkerReply;
  try {
    reply = await deps.jobs.run(job, deps.jobTimeoutMs);
  } catch (error) {
    // The consumer gets a generic 500; the trust's log gets why, with the request's ids (the
    // request's logger carries them). Messages name queues, keys and workers, never patient data,
    // but may quote Redis (OOM, READONLY, NOPERM naming the ACL user): none of it goes to the consumer.
    const reason = error instanceof JobError ? error.reason : 'unexpected';
    c.get('log')?.error({ kind: job.kind, reason, err: String((error as Error)?.message ?? error).slice(0, 500) }, 'no usable reply from a worker');
    if (error instanceof JobError) c.set('jobFailure', error.reason);
    if (error instanceof JobError && error.reason === 'timeout') {
      // A GET changes nothing, so only writes have an unknown outcome to learn by retrying.
      const advice = c.req.method === 'GET' ? 'Retry the request.' : 'Retry with the same X-Request-ID to learn it.';
      refuse(problems.outcomeUnknown(`The outcome is unknown: the provider's booking service did not answer in time. ${advice}`));
    }
    if (error instanceof JobError && error.reason === 'queue-unavailable') {
      refuse(problems.internal('The booking service is temporarily unavailable; nothing was done. Retry later.'));
    }
    refuse(problems.internal('The request failed inside the provider; retry with the same X-Request-ID.'));
  }
  switch (reply.type) {
    case 'resource': {
      c.header('ETag', `W/"${reply.versionId}"`);
      c.header('Last-Modified', httpDate(reply.lastUpdated));
      const write = reply.status === 201 || c.req.method === 'PUT';
      if (write) c.header('Location', `${deps.baseUrl}/${reply.resourceType}/${reply.id}/_history/${reply.versionId}`);
      if (!write) return sendResource(c, reply.status, reply.resource);
      const prefer = preferredReturn(requestHeader(c, 'Prefer'));
      if (prefer) c.header('Preference-Applied', `return=${prefer}`);
      if (prefer === 'minimal') {
        noteResource(c, reply.resource); // the audit trail still learns the ids
        return c.body(null, reply.status as 200);
      }
      if (prefer === 'OperationOutcome') {
        noteResource(c, reply.resource);
        const [code, what] = reply.status === 201 ? (['RESOURCE_CREATED', 'created'] as const) : (['RESOURCE_UPDATED', 'updated'] as const);
        return sendResource(c, reply.status, informationOutcome(code, `${reply.resourceType}/${reply.id} ${what}, version ${reply.versionId}`, c.get('requestId')));
      }
      return sendResource(c, reply.status, reply.resource);
    }
    case 'bundle': {
      const gzipped = typeof reply.gzip === 'string' ? Buffer.from(reply.gzip, 'base64') : undefined;
      // The previous release's workers send the JSON text; older ones an object: refused, never an empty 200.
      const json = (reply as { json?: unknown }).json;
      if (!gzipped && typeof json !== 'string') {
        c.get('log')?.error({ kind: job.kind, reason: 'reply-unreadable' }, 'no usable reply from a worker: a search answer in a format this facade does not read (facade and workers of different releases)');
        c.set('jobFailure', 'reply-unreadable');
        return refuse(problems.internal('The worker answered in a format this facade does not read: run facade and workers of the same release'));
      }
      // An Appointment search discloses a patient's appointments: the audit trail names them (and,
      // noted when the query was read, the NHS number asked for). Slot searches disclose no patient data and are not read.
      if (job.kind === 'search-appointment') noteBundle(c, gzipped ? inflateBundle(gzipped) : (json as string));
      return gzipped ? sendGzippedJson(c, 200, gzipped) : sendSerialised(c, 200, json as string);
    }
    case 'problem':
      if (reply.contentLocation) c.header('Content-Location', `${deps.baseUrl}/${reply.contentLocation}`);
      return refuse(reply.problem);
    case 'empty':
      return c.body(null, 204);
  }
}

/**
 * `Prefer: return=minimal | representation | OperationOutcome` on create and update (FHIR STU3
 * http.html#2.21.0.5); absent or anything else means representation, the default.
 */
export function preferredReturn(header: string | undefined): 'minimal' | 'OperationOutcome' | undefined {
  for (const part of (header ?? '').split(/[,;]/)) {
    const [name, value] = part.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (name?.toLowerCase() !== 'return') continue;
    if (value === 'minimal') return 'minimal';
    if (value?.toLowerCase() === 'operationoutcome') return 'OperationOutcome';
    return undefined;
  }
  return undefined;
}
