import { checkBookingRequest, type JsonObject, problems } from '@booking/fhir';
import type { WorkerReply } from '@booking/queue';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { AppEnv } from '../env.js';
import { httpDate, sendProblem, sendResource } from '../fhir-response.js';
import { JobError, type PasQueueClient } from '../queue-client.js';
import { readFhirBody } from '../request-body.js';

export interface RouteDeps {
  queue: PasQueueClient;
  baseUrl: string;
  jobTimeoutMs: number;
}

export function appointmentRoutes(deps: RouteDeps) {
  const routes = new Hono<AppEnv>();

  routes.post('/Appointment', async (c) => {
    const body = await readFhirBody(c);
    if (!body.ok) return sendProblem(c, body.problem);
    const checked = checkBookingRequest(body.value);
    if (!checked.ok) return sendProblem(c, checked.problem);
    return answer(c, deps, () =>
      deps.queue.run(
        { kind: 'book', requestId: c.req.header('X-Request-ID') as string, appointment: body.value as JsonObject, traceRequestId: c.get('requestId') },
        deps.jobTimeoutMs,
      ),
    );
  });

  routes.get('/Appointment/:id', (c) =>
    answer(c, deps, () => deps.queue.run({ kind: 'read', appointmentId: c.req.param('id'), traceRequestId: c.get('requestId') }, deps.jobTimeoutMs)),
  );

  routes.get('/Appointment/:id/_history/:vid', (c) =>
    answer(c, deps, () =>
      deps.queue.run({ kind: 'read', appointmentId: c.req.param('id'), versionId: c.req.param('vid'), traceRequestId: c.get('requestId') }, deps.jobTimeoutMs),
    ),
  );

  // Cancel. Existence, If-Match and the content are checked by the worker, in that order (§18).
  routes.put('/Appointment/:id', async (c) => {
    const body = await readFhirBody(c);
    if (!body.ok) return sendProblem(c, body.problem);
    const ifMatch = c.req.header('If-Match');
    return answer(c, deps, () =>
      deps.queue.run(
        {
          kind: 'cancel',
          requestId: c.req.header('X-Request-ID') as string,
          appointmentId: c.req.param('id'),
          ...(ifMatch !== undefined ? { ifMatch } : {}),
          appointment: body.value as JsonObject,
          traceRequestId: c.get('requestId'),
        },
        deps.jobTimeoutMs,
      ),
    );
  });

  return routes;
}

/** Runs a job and turns its reply, or its absence, into the HTTP answer. */
export async function answer(c: Context<AppEnv>, deps: RouteDeps, run: () => Promise<WorkerReply>): Promise<Response> {
  let reply: WorkerReply;
  try {
    reply = await run();
  } catch (error) {
    if (error instanceof JobError && error.reason === 'timeout') {
      return sendProblem(c, problems.outcomeUnknown(`The outcome is unknown: ${error.message}. Retry with the same X-Request-ID to learn it.`));
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
    case 'problem':
      if (reply.contentLocation) c.header('Content-Location', `${deps.baseUrl}/${reply.contentLocation}`);
      return sendProblem(c, reply.problem);
    case 'empty':
      return c.body(null, 204);
  }
}
