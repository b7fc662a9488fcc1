import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LIBRARY_DIRS, workspaceRoot } from './workspace.js';

const execFileAsync = promisify(execFile);

interface PackageJson {
  name: string;
  private?: boolean;
  files?: string[];
  exports?: Record<string, unknown>;
}

interface PackResult {
  files: Array<{ path: string }>;
}

/** Files npm always adds or that we allow next to the build output. */
const ALLOWED_TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE']);

/** Leaves of a conditional export, keyed by the condition path (e.g. "import.types"). */
function exportTargets(entry: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof entry === 'string') out.set(prefix, entry);
  else if (entry && typeof entry === 'object') {
    for (const [condition, value] of Object.entries(entry)) {
      for (const [key, target] of exportTargets(value, prefix ? `${prefix}.${condition}` : condition)) {
        out.set(key, target);
      }
    }
  }
  return out;
}

/**
 * Runs `npm pack --dry-run --json` in the package directory. Variables that npm sets for the enclosing
 * `npm run test` (lifecycle, package, workspace selection) are dropped so the child packs this package only.
 */
async function packedFiles(dir: string): Promise<string[]> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_(lifecycle_|package_|config_workspace)/i.test(key)),
  );
  const { stdout } = await execFileAsync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [result] = JSON.parse(stdout) as PackResult[];
  if (!result) throw new Error(`npm pack printed no result in ${dir}`);
  return result.files.map((f) => f.path).sort();
}

describe.each(LIBRARY_DIRS)('packages/%s', (dirName) => {
  const dir = join(workspaceRoot, 'packages', dirName);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;

  it('is a public @litemq/* package', () => {
    expect(pkg.name).toBe(`@litemq/${dirName}`);
    expect(pkg.private).not.toBe(true);
  });

  it('exports "." for import and require, each with types', () => {
    const root = pkg.exports?.['.'];
    expect(root, 'exports["."]').toBeTypeOf('object');
    const targets = exportTargets(root);
    // Types may be given per module system (.d.ts / .d.cts) or once at the top of the entry.
    for (const system of ['import', 'require'] as const) {
      expect(targets.has(`${system}.default`) || targets.has(system), `exports["."].${system}`).toBe(true);
      expect(targets.has(`${system}.types`) || targets.has('types'), `types for ${system}`).toBe(true);
    }
  });

  it('publishes only dist and README.md', () => {
    const files = pkg.files ?? [];
    expect(files).toContain('dist');
    for (const entry of files) expect(['dist', 'README.md', 'LICENSE']).toContain(entry);
  });

  it('has a README.md', () => {
    const readme = join(dir, 'README.md');
    expect(existsSync(readme)).toBe(true);
    expect(statSync(readme).size).toBeGreaterThan(0);
  });

  it('packs only package.json, README.md, LICENSE and dist/, including every export target', async () => {
    const files = await packedFiles(dir);
    const unexpected = files.filter((f) => !ALLOWED_TOP_LEVEL.has(f) && !f.startsWith('dist/'));
    expect(unexpected).toEqual([]);
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');

    // Every published (non-source) export target must be built and packed; `@litemq/source` points at src/
    // for in-repo development only and is never resolved by consumers of the tarball.
    for (const [condition, target] of exportTargets(pkg.exports?.['.'])) {
      if (condition.startsWith('@litemq/source')) continue;
      expect(files, `exports["."].${condition}`).toContain(target.replace(/^\.\//, ''));
    }
  });
});
