import { ESLint, type Linter } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';
import { workspaceRoot } from './workspace.js';

// The Nx boundary rule reads the project graph Nx caches on disk. Build it in-process (no daemon) so the test does
// not depend on whatever a previous command left behind; Nx writes the cache atomically (temp file + rename), so
// lint tasks running in parallel never see a half-written graph.
process.env.NX_DAEMON = 'false';
process.env.NX_NO_CLOUD = 'true';

const BOUNDARY_RULE = '@nx/enforce-module-boundaries';

let eslint: ESLint;

beforeAll(async () => {
  const { createProjectGraphAsync } = await import('@nx/devkit');
  const graph = await createProjectGraphAsync({ exitOnError: false });
  // If the graph were missing projects the rule would quietly allow everything.
  expect(Object.keys(graph.nodes)).toEqual(expect.arrayContaining(['protocol', 'client']));
  eslint = new ESLint({ cwd: workspaceRoot });
});

/**
 * Lints `code` as if it were the file at `relPath`. ESLint resolves config and the Nx rule resolves the owning
 * project from the path alone, so nothing is written to disk: a real probe file in packages/x/src would be picked
 * up by the build/typecheck/lint tasks that `nx run-many` runs in parallel with this test and fail them at random.
 */
async function lintAs(relPath: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: `${workspaceRoot}${relPath}` });
  if (!result) throw new Error(`ESLint returned no result for ${relPath}`);
  // A parse error would hide every rule result.
  expect(result.messages.filter((m) => m.fatal)).toEqual([]);
  return result.messages;
}

const errorsOf = (messages: Linter.LintMessage[], ruleId: string) =>
  messages.filter((m) => m.ruleId === ruleId && m.severity === 2);

const importing = (specifier: string) => `import * as probe from '${specifier}';\n\nexport const used = probe;\n`;

describe('layering rule (@nx/enforce-module-boundaries)', () => {
  const forbidden: Array<[from: string, to: string]> = [
    ['protocol', '@litemq/storage'], // protocol depends on nothing internal (also a cycle)
    ['protocol', '@litemq/client'],
    ['storage', '@litemq/broker'],
    ['delay', '@litemq/txn'], // feature packages are siblings, not layers
    ['txn', '@litemq/broker'],
    ['nameserver', '@litemq/storage'],
    ['broker', '@litemq/client'],
    ['broker', '@litemq/nameserver'],
    ['client', '@litemq/broker'],
    ['client', '@litemq/storage'],
  ];

  it.each(forbidden)('reports %s -> %s', async (from, to) => {
    const messages = await lintAs(`packages/${from}/src/__layering-probe__.ts`, importing(to));
    expect(errorsOf(messages, BOUNDARY_RULE), JSON.stringify(messages)).not.toHaveLength(0);
  });

  const allowed: Array<[from: string, to: string]> = [
    ['storage', '@litemq/protocol'],
    ['delay', '@litemq/storage'],
    ['txn', '@litemq/protocol'],
    ['nameserver', '@litemq/protocol'],
    ['broker', '@litemq/txn'],
    ['broker', '@litemq/delay'],
    ['client', '@litemq/protocol'],
  ];

  it.each(allowed)('allows %s -> %s', async (from, to) => {
    const messages = await lintAs(`packages/${from}/src/__layering-probe__.ts`, importing(to));
    expect(errorsOf(messages, BOUNDARY_RULE), JSON.stringify(messages)).toEqual([]);
  });

  it('also checks test files of a package', async () => {
    const messages = await lintAs('packages/client/test/__layering-probe__.test.ts', importing('@litemq/broker'));
    expect(errorsOf(messages, BOUNDARY_RULE)).not.toHaveLength(0);
  });
});

describe('deep imports', () => {
  it.each([
    ['client', '@litemq/protocol/src/errors'],
    ['storage', '@litemq/protocol/dist/index.js'],
    ['broker', '@litemq/storage/src/commit-log'],
  ])('reports %s -> %s', async (from, to) => {
    const messages = await lintAs(`packages/${from}/src/__layering-probe__.ts`, importing(to));
    // Allowed-by-tag deep imports are not a boundary violation to Nx; the workspace bans them explicitly.
    expect(errorsOf(messages, 'no-restricted-imports'), JSON.stringify(messages)).not.toHaveLength(0);
  });

  it('allows the package entry and package.json', async () => {
    const messages = await lintAs(
      'packages/client/src/__layering-probe__.ts',
      "import * as entry from '@litemq/protocol';\nimport * as pkg from '@litemq/protocol/package.json';\n\nexport const used = [entry, pkg];\n",
    );
    expect(errorsOf(messages, 'no-restricted-imports')).toEqual([]);
  });
});

describe('library code hygiene', () => {
  it('bans console and explicit any in packages/*/src', async () => {
    const messages = await lintAs(
      'packages/storage/src/__layering-probe__.ts',
      "export function f(x: any): void {\n  console.log(x);\n}\n",
    );
    expect(errorsOf(messages, 'no-console')).toHaveLength(1);
    expect(errorsOf(messages, '@typescript-eslint/no-explicit-any')).toHaveLength(1);
  });
});
