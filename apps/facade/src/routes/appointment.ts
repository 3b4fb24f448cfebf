import { checkBookingRequest, type JsonObject } from '@booking/fhir';
import { Hono } from 'hono';
import { answer, type RouteDeps } from '../answer.js';
import { parseAppointmentSearch } from '../appointment-search-params.js';
import type { AppEnv } from '../env.js';
import { sendProblem } from '../fhir-response.js';
import { readFhirBody } from '../request-body.js';

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

  routes.get('/Appointment', (c) => {
    const url = new URL(c.req.url);
    const parsed = parseAppointmentSearch(url.searchParams);
    if (!parsed.ok) return sendProblem(c, parsed.problem);
    return answer(c, deps, () =>
      deps.queue.run(
        { kind: 'search-appointment', ...parsed.value, baseUrl: deps.baseUrl, selfLink: `${deps.baseUrl}/Appointment${url.search}`, traceRequestId: c.get('requestId') },
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
