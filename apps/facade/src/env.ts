import type { BookingClaims } from './security/jwt.js';
import type { Interaction } from './interactions.js';

/** Per-request values the middleware chain hands to the routes. */
export type AppEnv = {
  Variables: {
    /** Our own X-Request-ID for this response. */
    requestId: string;
    interaction: Interaction;
    claims: BookingClaims;
  };
};
