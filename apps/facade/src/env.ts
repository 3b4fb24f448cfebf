import type { SlotSearch } from '@booking/fhir';
import type { Logger } from 'pino';
import type { BookingClaims } from './security/jwt.js';
import type { Interaction } from './interactions.js';
import type { JobFailure } from './job-runner.js';
import type { Refusal } from './problem-error.js';

/** Per-request values the middleware chain hands to the routes. */
export type AppEnv = {
  Variables: {
    /** Our own X-Request-ID for this response. */
    requestId: string;
    /** The request's child logger: every line carries its ids (observability/request.ts). */
    log: Logger;
    interaction: Interaction;
    claims: BookingClaims;
    /** GET /Slot: the checked query (interactions.ts `checkQuery`, before the JWT). */
    slotSearch: SlotSearch;
    /** Set when the answer is a refusal (fhir-response.ts sendProblem): the log line and the audit record keep it. */
    refusal: Refusal;
    /** Set when a job gave no usable reply (answer.ts): counted by observability/request.ts. */
    jobFailure: JobFailure;
  };
};
