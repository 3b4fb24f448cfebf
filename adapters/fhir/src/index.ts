export * from './types.js';
export * from './operation-outcome.js';
export * from './nhs-number.js';
export * from './booking-request.js';
export * from './appointment.js';
