export * from './port.js';
export * from './demo-data.js';
export { isKnownTimeZone, LocalClock } from './local-time.js';
export * from './consistency.js';
export { openPasScreens, pasScreens, type PasScreens, type PasScreensOptions } from './pas-screens.js';
export * from './appointment-status.js';
export { checkHospitalNumberFormat, DEFAULT_HOSPITAL_NUMBER, type HospitalNumberFormat } from './transactions/repository.js';
export * from './requirements.js';
export { legacyCode } from './session.js';
