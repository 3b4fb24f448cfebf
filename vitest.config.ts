import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts', 'adapters/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // The tests' fetch drops idle connections early (http-client.ts); every FHIR response a test
    // receives is judged against the official schemas (response-collector.ts).
    setupFiles: ['test/support/http-client.ts', 'test/support/response-collector.ts'],
    testTimeout: 60000,
    hookTimeout: 60000,
    // Each file starts real processes; two at a time suits a 2-core machine.
    maxWorkers: 2,
    pool: 'forks',
  },
});
