/**
 * NHS numbers for the smoke test. Numbers beginning 999 are reserved for testing and never issued
 * to a patient, so a smoke booking can never land on a real person's record.
 */

/** The modulus-11 check digit of nine digits, or undefined when there is none (remainder 10). */
export function nhsCheckDigit(nine: string): number | undefined {
  if (!/^\d{9}$/.test(nine)) throw new Error(`nine digits expected, got ${nine}`);
  const sum = [...nine].reduce((acc, d, i) => acc + Number(d) * (10 - i), 0);
  const check = 11 - (sum % 11);
  if (check === 10) return undefined;
  return check === 11 ? 0 : check;
}

export function isValidNhsNumber(value: string): boolean {
  return /^\d{10}$/.test(value) && nhsCheckDigit(value.slice(0, 9)) === Number(value[9]);
}

export function isTestRangeNhsNumber(value: string): boolean {
  return isValidNhsNumber(value) && value.startsWith('999');
}

/** The first valid test-range number at or after 999 000 001x: the smoke test's patient (9990000018). */
export function smokeTestNhsNumber(): string {
  for (let n = 1; ; n++) {
    const nine = `999${String(n).padStart(6, '0')}`;
    const check = nhsCheckDigit(nine);
    if (check !== undefined) return `${nine}${check}`;
  }
}
