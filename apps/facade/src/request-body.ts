import { type Checked, problems } from '@booking/fhir';
import type { Context } from 'hono';

/** Reading a FHIR request body: media type → 415, unparseable → 400. */

const JSON_TYPES = ['application/fhir+json', 'application/json+fhir'];

export async function readFhirBody(c: Context): Promise<Checked<unknown>> {
  const contentType = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!JSON_TYPES.includes(contentType)) {
    return { ok: false, problem: problems.unsupportedMediaType(`Content-Type must be application/fhir+json; got "${contentType || 'none'}"`) };
  }
  const text = await c.req.text();
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, problem: problems.notWellFormed(`The body is not valid JSON: ${(error as Error).message}`) };
  }
}
