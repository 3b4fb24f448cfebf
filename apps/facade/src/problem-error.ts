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
