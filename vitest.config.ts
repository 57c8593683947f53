import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkgs = fileURLToPath(new URL('./packages/', import.meta.url));

// Workspace packages resolve to their TypeScript sources, so tests need no build.
const alias = [
  { find: /^@nodeagent\/core\/cri$/, replacement: `${pkgs}core/src/cri/types.ts` },
  {
    find: /^@nodeagent\/testkit\/vitest-global-setup$/,
    replacement: `${pkgs}testkit/src/runtime/vitest-global-setup.ts`,
  },
  { find: /^@nodeagent\/([a-z-]+)\/([a-z-]+)$/, replacement: `${pkgs}$1/src/$2.ts` },
  { find: /^@nodeagent\/([a-z-]+)$/, replacement: `${pkgs}$1/src/index.ts` },
];

export default defineConfig({
  resolve: { alias },
  test: {
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.test-results/vitest.json' },
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'apps/*/src/**/*.test.ts',
            'scripts/**/*.test.ts',
          ],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**', '**/dist/**'],
          environment: 'node',
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: [
            'packages/*/src/**/*.integration.test.ts',
            'apps/*/src/**/*.integration.test.ts',
          ],
          environment: 'node',
          globalSetup: ['./packages/testkit/src/runtime/vitest-global-setup.ts'],
          // One containerd serves every test file: run files one after another so
          // that timing-sensitive runtime tests do not starve each other on 2 cores.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
