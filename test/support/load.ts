import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bookingBody, consumerHeaders, type SlotForBooking } from './consumer.js';

/** One consumer booking attempt and, when its outcome was unknown, its same-id retries. */
export interface BookingAttempt {
  slot: SlotForBooking;
  requestId: string;
  baseUrl: string;
  /** First answer: an HTTP status, or 'network' when no answer arrived at all. */
  first: number | 'network';
  /** Final answer after retrying 500s with the same X-Request-ID. */
  final: number | 'network';
  /** The appointment this request booked (from a 201 body or a 409's Content-Location). */
  appointmentId?: string;
  retries: number;
}

async function send(attempt: BookingAttempt): Promise<number | 'network'> {
  try {
    const res = await fetch(`${attempt.baseUrl}/Appointment`, {
      method: 'POST',
      headers: consumerHeaders(attempt.baseUrl, 'book', { 'X-Request-ID': attempt.requestId }),
      body: JSON.stringify(bookingBody(attempt.slot)),
    });
    const text = await res.text();
    if (res.status === 201) attempt.appointmentId = (JSON.parse(text) as { id: string }).id;
    if (res.status === 409) attempt.appointmentId = /Appointment\/([^/]+)\/_history/.exec(res.headers.get('content-location') ?? '')?.[1];
    return res.status;
  } catch {
    return 'network';
  }
}

/** Books each slot once (or `contenders` times), spreading requests over the facades, `concurrency` at a time. */
export async function bookAll(slots: SlotForBooking[], baseUrls: string[], options: { concurrency: number; contenders?: number; during?: (done: number) => void }): Promise<BookingAttempt[]> {
  const attempts: BookingAttempt[] = [];
  slots.forEach((slot, i) => {
    for (let c = 0; c < (options.contenders ?? 1); c++) {
      attempts.push({ slot, requestId: randomUUID(), baseUrl: baseUrls[(i + c) % baseUrls.length] as string, first: 'network', final: 'network', retries: 0 });
    }
  });
  let next = 0;
  let done = 0;
  const runOne = async () => {
    while (next < attempts.length) {
      const attempt = attempts[next++] as BookingAttempt;
      attempt.first = attempt.final = await send(attempt);
      options.during?.(++done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, runOne));
  return attempts;
}

/** Retries every unknown outcome (500 or no answer) with the same X-Request-ID until it is known. */
export async function resolveUnknown(attempts: BookingAttempt[], maxRetries = 20): Promise<void> {
  for (const attempt of attempts) {
    while ((attempt.final === 500 || attempt.final === 'network') && attempt.retries < maxRetries) {
      attempt.retries++;
      attempt.final = await send(attempt);
      if (attempt.final === 500 || attempt.final === 'network') await sleep(500);
    }
  }
}
