// Root ESLint flat config. The layering rules of docs/design §2 live here and fail `npm test` (lint target).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import nx from '@nx/eslint-plugin';
import { createProjectGraphAsync, readCachedProjectGraph, workspaceRoot } from '@nx/devkit';

// @nx/enforce-module-boundaries only reads Nx's *cached* project graph and silently skips itself when there is
// none (e.g. `eslint` run directly on a fresh clone). `nx run-many` writes the cache before lint tasks start; for
// any other entry point, build it here so the rule can never be skipped.
try {
  readCachedProjectGraph();
} catch {
  await createProjectGraphAsync({ exitOnError: false });
}

/** Workspace project roots (npm workspaces globs are one level deep) whose package.json has `nx.tags` with `tag`. */
function projectRootsWithTag(tag) {
  const roots = [];
  for (const group of ['packages', 'apps', 'tools']) {
    const dir = join(workspaceRoot, group);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const pkgPath = join(dir, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(pkgPath)) continue;
      const tags = JSON.parse(readFileSync(pkgPath, 'utf8')).nx?.tags ?? [];
      if (tags.includes(tag)) roots.push(`${group}/${entry.name}`);
    }
  }
  return roots;
}

// Browser code (console front end) must not touch Node built-ins. The Nx rule ignores built-in imports entirely
// (they are not graph nodes), so this is enforced with core no-restricted-imports on the scope:web projects.
const webRoots = projectRootsWithTag('scope:web');
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith('_'));

export default [
  { ignores: ['**/dist/**', '**/out-tsc/**', '**/node_modules/**', '**/coverage/**', '**/.nx/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.cts', '**/*.mts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          // Circular dependencies are always reported by the rule; no allow-list, no exceptions.
          allow: [],
          depConstraints: [
            { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:storage', onlyDependOnLibsWithTags: ['type:protocol'] },
            { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:protocol', 'type:storage'] },
            { sourceTag: 'type:nameserver', onlyDependOnLibsWithTags: ['type:protocol'] },
            {
              sourceTag: 'type:broker',
              onlyDependOnLibsWithTags: ['type:protocol', 'type:storage', 'type:feature'],
            },
            { sourceTag: 'type:client', onlyDependOnLibsWithTags: ['type:protocol'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['*'] },
            // Tooling (benchmarks, harnesses, workspace checks) may use any package, like an app.
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['*'] },
            // Applies in addition to type:app for the console front end (all matching constraints must hold).
            { sourceTag: 'scope:web', onlyDependOnLibsWithTags: ['type:protocol', 'scope:web'] },
          ],
        },
      ],
      // The Nx rule resolves `@litemq/x/anything` to project x and would allow it, so deep imports (which the
      // `exports` maps reject at runtime anyway) are banned here: only the package entry `@litemq/x` is public.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@litemq/*/**', '!@litemq/*/package.json'],
              message: 'Import the package entry (`@litemq/<name>`) only; deep imports are not part of the API.',
            },
          ],
        },
      ],
    },
  },
  {
    // Library code logs through an injected logger (pino), never the console, and stays fully typed.
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // tsconfig leaves noUncheckedIndexedAccess off; `!` after a bounds-checked index is deliberate.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/test/**/*.ts', '**/bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['apps/*/src/**/*.ts', 'tools/*/src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  ...(webRoots.length === 0
    ? []
    : [
        {
          files: webRoots.map((root) => `${root}/**/*.{ts,tsx,js,mjs}`),
          rules: {
            'no-restricted-imports': [
              'error',
              {
                paths: nodeBuiltins.map((name) => ({ name, message: 'Browser code cannot use Node built-ins.' })),
                patterns: [
                  { group: ['node:*'], message: 'Browser code cannot use Node built-ins.' },
                  {
                    group: ['@litemq/*/**', '!@litemq/*/package.json'],
                    message: 'Import the package entry (`@litemq/<name>`) only; deep imports are not part of the API.',
                  },
                ],
              },
            ],
          },
        },
      ]),
];
