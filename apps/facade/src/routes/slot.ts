import { Hono } from 'hono';
import { answer, type RouteDeps } from '../answer.js';
import type { AppEnv } from '../env.js';
import { sendProblem } from '../fhir-response.js';
import { parseSlotSearch } from '../search-params.js';

/** GET [base]/Slot (spec §8): the query is checked here, the PAS is searched by a worker. */
export function slotRoutes(deps: RouteDeps) {
  const routes = new Hono<AppEnv>();

  routes.get('/Slot', (c) => {
    // searchParams decodes names and values; an unencoded "+" arrives as a space (§8.1).
    const url = new URL(c.req.url);
    const parsed = parseSlotSearch(url.searchParams, new Date());
    if (!parsed.ok) return sendProblem(c, parsed.problem);
    return answer(c, deps, () =>
      deps.queue.run(
        // The self link keeps the query exactly as the consumer encoded it, under our public base URL.
        { kind: 'search-slot', search: parsed.value, baseUrl: deps.baseUrl, selfLink: `${deps.baseUrl}/Slot${url.search}`, traceRequestId: c.get('requestId') },
        deps.jobTimeoutMs,
      ),
    );
  });

  return routes;
}
