import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { ServerError, ServerErrorCode } from '../errors.js';
import type { LiteMQConfig } from './schema.js';
import { configSchema } from './schema.js';

type Tree = Record<string, unknown>;

const ENV_PREFIX = 'LITEMQ_';

function screamingSnake(camel: string): string {
  return camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Every leaf path of the schema (e.g. `broker.store.flushMode`) with its schema, for env and flag mapping. */
function leafPaths(schema: z.ZodType, prefix: string[] = [], out = new Map<string, { path: string[]; schema: z.ZodType }>()) {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) leafPaths(child, [...prefix, key], out);
  } else {
    out.set(prefix.join('.'), { path: prefix, schema: inner });
  }
  return out;
}

const LEAVES = leafPaths(configSchema);

/** Converts a text value (env var or flag) to what the schema expects at that path. */
function coerce(schema: z.ZodType, text: string, where: string): unknown {
  if (schema instanceof z.ZodNumber) {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new ServerError(ServerErrorCode.CONFIG_INVALID, `${where}: expected a number, got ${JSON.stringify(text)}`);
    return value;
  }
  if (schema instanceof z.ZodBoolean) {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new ServerError(ServerErrorCode.CONFIG_INVALID, `${where}: expected true or false, got ${JSON.stringify(text)}`);
  }
  if (schema instanceof z.ZodArray) return text.split(',').map((item) => item.trim()).filter(Boolean);
  return text;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  const leaf = path.at(-1);
  if (leaf === undefined) return;
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[leaf] = value;
}

/** `LITEMQ_BROKER_STORE_FLUSH_MODE=sync` → broker.store.flushMode. Unknown LITEMQ_* names are errors. */
export function configFromEnv(env: NodeJS.ProcessEnv): Tree {
  const byEnvName = new Map([...LEAVES.entries()].map(([dotted, leaf]) => [ENV_PREFIX + leaf.path.map(screamingSnake).join('_'), { dotted, ...leaf }]));
  const tree: Tree = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const leaf = byEnvName.get(name);
    if (!leaf) throw new ServerError(ServerErrorCode.CONFIG_INVALID, `unknown environment variable ${name} (known: ${[...byEnvName.keys()].join(', ')})`);
    setPath(tree, leaf.path, coerce(leaf.schema, value, name));
  }
  return tree;
}

/** `broker.port=10911` style overrides from `--set` flags. */
export function configFromSettings(settings: readonly string[]): Tree {
  const tree: Tree = {};
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    const key = eq < 0 ? setting : setting.slice(0, eq);
    const leaf = LEAVES.get(key);
    if (eq < 0 || !leaf) throw new ServerError(ServerErrorCode.CONFIG_INVALID, `--set ${setting}: expected <key>=<value> with a known key (e.g. broker.port=10911)`);
    setPath(tree, leaf.path, coerce(leaf.schema, setting.slice(eq + 1), `--set ${key}`));
  }
  return tree;
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const bothObjects = typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current);
    out[key] = bothObjects ? merge(current as Tree, value as Tree) : value;
  }
  return out;
}

export async function readConfigFile(path: string): Promise<Tree> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ServerError(ServerErrorCode.CONFIG_UNREADABLE, `cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return parseToml(text) as Tree;
  } catch (error) {
    throw new ServerError(ServerErrorCode.CONFIG_UNREADABLE, `config file ${path} is not valid TOML: ${(error as Error).message}`, { cause: error });
  }
}

/** Validates a merged tree into the typed config; every problem is listed with its key path. */
export function validateConfig(tree: Tree): LiteMQConfig {
  const result = configSchema.safeParse(tree);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') return `${path === '(root)' ? '' : `${path}: `}unknown key(s) ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
    return `${path}: ${issue.message}`;
  });
  throw new ServerError(ServerErrorCode.CONFIG_INVALID, `invalid configuration:\n  - ${problems.join('\n  - ')}`);
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Layered after the file and before the environment: what a command implies (e.g. standalone defaults). */
  defaults?: Tree;
  /** Flag-derived overrides, applied last. */
  flags?: Tree;
}

/** Precedence: command defaults < TOML file < LITEMQ_* environment < command-line flags. */
export async function loadConfig(sources: ConfigSources): Promise<LiteMQConfig> {
  let tree: Tree = sources.defaults ?? {};
  if (sources.file) tree = merge(tree, await readConfigFile(sources.file));
  tree = merge(tree, configFromEnv(sources.env ?? {}));
  tree = merge(tree, sources.flags ?? {});
  return validateConfig(tree);
}
