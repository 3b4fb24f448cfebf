import { bookingAppointment } from '@booking/cli/consumer';

/** A consumer's booking body as the CLI builds it, for the validation tests. */
export const sampleBooking = (): Record<string, any> =>
  bookingAppointment(
    { id: '1001', identifier: 'f3a0c1de-0000-4000-8000-000000001001', schedule: 'Schedule/CLINIC1', start: '2030-03-02T10:00:00+00:00', end: '2030-03-02T10:10:00+00:00' },
    { nhsNumber: '9658218873', prefix: 'Mrs', given: ['Jane'], family: 'Bloggs', gender: 'female', birthDate: '1970-01-01', phone: '01234 567890', address: { line: ['1 High Street'], city: 'Leeds', postalCode: 'LS1 1AA' } },
    'Reason for calling',
  ) as Record<string, any>;
