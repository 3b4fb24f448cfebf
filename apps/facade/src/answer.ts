import { problems } from '@booking/fhir';
import type { WorkerReply } from '@booking/queue';
import type { Context } from 'hono';
import type { AppEnv } from './env.js';
import { httpDate, sendProblem, sendResource } from './fhir-response.js';
import { JobError, type PasQueueClient } from './queue-client.js';

/** What every route that hands work to the queue needs. */
export interface RouteDeps {
  queue: PasQueueClient;
  baseUrl: string;
  jobTimeoutMs: number;
}

/** Runs a job and turns its reply, or its absence, into the HTTP answer. */
export async function answer(c: Context<AppEnv>, deps: RouteDeps, run: () => Promise<WorkerReply>): Promise<Response> {
  let reply: WorkerReply;
  try {
    reply = await run();
  } catch (error) {
    if (error instanceof JobError && error.reason === 'timeout') {
      // A GET changes nothing, so only writes have an unknown outcome to learn by retrying.
      const advice = c.req.method === 'GET' ? 'Retry the request.' : 'Retry with the same X-Request-ID to learn it.';
      return sendProblem(c, problems.outcomeUnknown(`The outcome is unknown: ${error.message}. ${advice}`));
    }
    if (error instanceof JobError && error.reason === 'queue-unavailable') {
      return sendProblem(c, problems.internal('The booking service is temporarily unavailable; nothing was done. Retry later.'));
    }
    return sendProblem(c, problems.internal('The request failed inside the provider; retry with the same X-Request-ID.'));
  }
  switch (reply.type) {
    case 'resource': {
      c.header('ETag', `W/"${reply.versionId}"`);
      c.header('Last-Modified', httpDate(reply.lastUpdated));
      if (reply.status === 201 || c.req.method === 'PUT') {
        c.header('Location', `${deps.baseUrl}/${reply.resourceType}/${reply.id}/_history/${reply.versionId}`);
      }
      return sendResource(c, reply.status, reply.resource);
    }
    case 'bundle':
      return sendResource(c, 200, reply.bundle);
    case 'problem':
      if (reply.contentLocation) c.header('Content-Location', `${deps.baseUrl}/${reply.contentLocation}`);
      return sendProblem(c, reply.problem);
    case 'empty':
      return c.body(null, 204);
  }
}
