import { type JsonObject, operationOutcome, type Problem } from '@booking/fhir';
import type { Context } from 'hono';

/** Writing FHIR bodies: every response of the consumer API goes through here. */

export const FHIR_JSON = 'application/fhir+json';

export function sendResource(c: Context, status: number, resource: JsonObject | object): Response {
  c.header('Content-Type', `${FHIR_JSON};charset=utf-8`);
  return c.body(JSON.stringify(resource), status as 200);
}

export function sendProblem(c: Context, p: Problem): Response {
  return sendResource(c, p.status, operationOutcome(p, c.get('requestId') ?? crypto.randomUUID()));
}

/** RFC 7231 IMF-fixdate for Last-Modified. */
export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}
