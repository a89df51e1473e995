import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['services/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    // Keeps the bodies of gateway responses for the leak scan (test/harness/leaks.ts).
    setupFiles: ['test/harness/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end files start whole gateways; two at a time suits a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
