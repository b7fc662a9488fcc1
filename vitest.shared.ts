import { defineConfig } from 'vitest/config';

/** Shared vitest settings: tests import sibling packages from source via the `@litemq/source` condition. */
export function packageVitestConfig(overrides: { testTimeout?: number; passWithNoTests?: boolean } = {}) {
  return defineConfig({
    resolve: { conditions: ['@litemq/source'] },
    ssr: { resolve: { conditions: ['@litemq/source'] } },
    test: {
      include: ['test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      pool: 'forks',
      // Only placeholder packages (status: planned) opt in; everywhere else a missing test file is a failure.
      passWithNoTests: overrides.passWithNoTests ?? false,
    },
  });
}
