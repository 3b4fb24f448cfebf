import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, readmeWithTable } from '../scripts/settings-doc.js';

describe('README', () => {
  const readme = readFileSync(README, 'utf8');

  it('has the configuration table the code generates (run scripts/settings-doc.ts --write)', () => {
    expect(readme).toBe(readmeWithTable(readme));
  });

  it('puts the two commands first', () => {
    const first = readme.indexOf('```sh');
    expect(readme.slice(first, readme.indexOf('```', first + 5))).toMatch(/npm start[\s\S]*npm test/);
  });

  it.each(['GET [base]/metadata', 'GET [base]/Slot', 'POST [base]/Appointment', 'PUT [base]/Appointment/{id}', 'GET [base]/Appointment/{id}'])('documents %s', (interaction) => {
    expect(readme).toContain(interaction);
  });
});
