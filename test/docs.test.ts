import { readFileSync } from 'node:fs';
import { DEFAULT_STATUS_MAPPING } from '@booking/pas';
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

describe('docs/install.md', () => {
  const install = readFileSync(new URL('../docs/install.md', import.meta.url), 'utf8');
  const bookingSchema = readFileSync(new URL('../docker/pas/02-booking-schema.sql', import.meta.url), 'utf8');

  it('says a cancel writes the code the status mapping gives cancelled:patient, and where that is configured', () => {
    const row = install.split('\n').find((line) => line.startsWith('| `APPOINTMENT` |')) ?? '';
    const updated = row.split('|')[4] ?? '';
    expect(updated).toContain('PAS_APPOINTMENT_STATUS_MAP');
    expect(updated).toContain(`\`${DEFAULT_STATUS_MAPPING.patientCancelCode}\` by default`);
    for (const [, code] of updated.matchAll(/→`(\w+)`/g)) expect(code).toBe(DEFAULT_STATUS_MAPPING.patientCancelCode);
  });

  it('names no constraint of 02-booking-schema.sql the script does not create, and the script makes no foreign key onto the legacy tables', () => {
    for (const [, name] of install.matchAll(/CONSTRAINT (\w+)/g)) expect(bookingSchema).toContain(`CONSTRAINT ${name} `);
    expect(bookingSchema).not.toMatch(/REFERENCES\s+(dbo\.)?APPOINTMENT\b/i);
  });

  it('3.1 counts and names every table 02-booking-schema.sql creates', () => {
    const tables = [...bookingSchema.matchAll(/CREATE TABLE (booking\.\w+)/g)].map((m) => m[1] as string);
    const section = install.slice(install.indexOf('### 3.1'), install.indexOf('### 3.2'));
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];
    expect(section).toContain(`creates schema \`booking\` and ${words[tables.length]} tables`);
    for (const table of tables) expect(section).toContain(`\`${table}\``);
  });

  it('5 lists every command of the CLI', () => {
    const cli = readFileSync(new URL('../apps/cli/src/main.ts', import.meta.url), 'utf8');
    const commands = [...cli.matchAll(/program\.command\('([a-z-]+)'\)/g)].map((m) => m[1] as string);
    expect(commands).toContain('token');
    const section = install.slice(install.indexOf('## 5.'), install.indexOf('## 6.'));
    for (const command of commands) expect(section, command).toContain(`| \`${command}`);
  });
});
