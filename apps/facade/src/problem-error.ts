import type { Problem } from '@booking/fhir';

/**
 * The one error channel of the consumer API: checks and routes throw a ProblemError, and the app's
 * onError renders it (app.ts). Headers already set on the context (e.g. Content-Location) stay.
 */
export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.diagnostics);
  }
}

/** Throws the problem as a ProblemError; typed `never` so it ends a check. */
export function refuse(p: Problem): never {
  throw new ProblemError(p);
}

/** What the log and the audit trail keep of a refusal (Refusal, below): never a value the consumer sent in a body or query. */
export interface Refusal {
  /** The Spine code. */
  code: string;
  /** The diagnostics, when they are made from the request's checks alone (REASON_IS_SAFE). */
  reason?: string;
  /** The offending elements or parameters (FHIRPath or names), never their values. */
  elements?: string[];
}

/**
 * Refusals whose diagnostics say why from the JWT, the SSP headers or the size alone, never quoting
 * a body, a query or a path. Any other diagnostics may quote what was sent (a validation message
 * quotes the birth date it could not read, a search one the identifier, a 415 the `_format` asked
 * for): for those only the code and the element paths are kept.
 */
const REASON_IS_SAFE = (p: Problem) => p.spineCode === 'ACCESS DENIED' || p.spineCode === 'MISSING_OR_INVALID_HEADER' || p.status === 413;

/**
 * An element path or parameter name as the checks write them (`Appointment.contained.Patient.birthDate`,
 * `schedule.actor:healthcareservice`, `_include`). An unknown parameter's name is the consumer's own
 * text and may be anything (a mis-encoded `identifier=…|<NHS number>`): not kept unless it looks like one.
 */
const ELEMENT = /^[A-Za-z_][\w.:\-[\]]{0,79}$/;
const MAX_ELEMENTS = 10;

/** Header values quoted in a reason (an Accept, a Content-Type) are the consumer's: capped. */
const MAX_REASON = 300;

export function refusalOf(p: Problem): Refusal {
  const named = [...(p.location ?? []), ...(p.findings ?? []).map((f) => f.expression)];
  const elements = [...new Set(named.map((e) => (ELEMENT.test(e) ? e : '(not kept: not an element or parameter name)')))].slice(0, MAX_ELEMENTS);
  return {
    code: p.spineCode,
    ...(REASON_IS_SAFE(p) ? { reason: p.diagnostics.slice(0, MAX_REASON) } : {}),
    ...(elements.length ? { elements } : {}),
  };
}
