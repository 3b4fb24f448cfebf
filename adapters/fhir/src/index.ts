export * from './types.js';
export * from './operation-outcome.js';
export * from './nhs-number.js';
export * from './booking-request.js';
export * from './appointment.js';
export * from './cancel.js';
export * from './capability-statement.js';
export * from './xml.js';
