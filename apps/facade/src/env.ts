import type { SlotSearch } from '@booking/fhir';
import type { Logger } from 'pino';
import type { BookingClaims } from './security/jwt.js';
import type { Interaction } from './interactions.js';

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
  };
};
