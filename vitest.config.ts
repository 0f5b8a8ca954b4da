import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-postgres.ts'],
    testTimeout: 30_000,
    // Services log through an injected logger that tests capture; the shared
    // Powertools logger (middleware, error mapper) stays quiet.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
    hookTimeout: 60_000,
  },
});
