import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ClientLogger } from './logger.js';

/** What a lock file holds. `nonce` makes every lock file's text unique (a stale takeover compares texts). */
export interface LockContent {
  pid: number;
  hostname: string;
  clientId: string;
  at: number;
  nonce: string;
}

/** Link-create, stale-check and takeover rounds before giving up on a lock that keeps changing hands. */
const MAX_ATTEMPTS = 10;

/**
 * Lock files held in this process (a lock file's pid cannot tell two of its users apart). Kept on globalThis so that
 * two copies of this module in one process (ESM and CJS builds) share it.
 */
const REGISTRY_KEY = Symbol.for('litemq.client.offsetFileLocks');
const heldInProcess: Set<string> = ((globalThis as Record<symbol, Set<string> | undefined>)[REGISTRY_KEY] ??= new Set<string>());

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a lock file's text; undefined when it is not a lock (empty, torn, garbage): such a lock is stale. */
export function parseLock(text: string): Omit<LockContent, 'nonce'> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (isRecord(value) && typeof value.pid === 'number' && typeof value.hostname === 'string' && typeof value.clientId === 'string') {
      return { pid: value.pid, hostname: value.hostname, clientId: value.clientId, at: typeof value.at === 'number' ? value.at : 0 };
    }
  } catch {
    // unreadable: stale
  }
  return undefined;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function lockError(code: ClientErrorCode, message: string, cause?: unknown): ClientError {
  return new ClientError(code, message, cause === undefined ? {} : { cause });
}

export interface OffsetFileLockOptions {
  /** The file the lock protects (for messages); the lock file is `<file>.lock`. */
  file: string;
  clientId: string;
  logger: ClientLogger;
}

/**
 * The `<file>.lock` of a local offset file: one holder at a time, across the processes of a host and the stores of
 * this process.
 *
 * - In this process, a registry of held lock files is checked and reserved synchronously, before anything is
 *   awaited, so two concurrent `acquire()`s cannot both get past it.
 * - Across processes, the lock file appears atomically with its content: it is written to a temp file first, then
 *   hard-linked into place (`link()` fails with EEXIST when a lock exists). No one ever reads an empty lock.
 * - A lock whose holder is dead (same host, pid not alive), or is this very process while the registry says the file
 *   is free (a pid reused after a restart, e.g. pid 1 in a container), or is unreadable, is stale. It is removed under
 *   a takeover guard only one process can hold (removeStale), then ours is link-created, where again only one
 *   process can win. A lock of another host cannot be checked: it is taken over.
 */
export class OffsetFileLock {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly key: string,
    private readonly text: string,
    private readonly logger: ClientLogger,
  ) {}

  static async acquire(options: OffsetFileLockOptions): Promise<OffsetFileLock> {
    const path = `${options.file}.lock`;
    const key = resolve(path);
    if (heldInProcess.has(key)) {
      throw lockError(
        ClientErrorCode.OFFSET_STORE_LOCKED,
        `the offset file ${options.file} is in use by another consumer of this process; give each one its own instanceName or offsetStoreDir`,
      );
    }
    heldInProcess.add(key); // before any await: a concurrent acquire() of this process fails above
    try {
      const nonce = randomBytes(8).toString('hex');
      const content: LockContent = { pid: process.pid, hostname: hostname(), clientId: options.clientId, at: Date.now(), nonce };
      const text = JSON.stringify(content);
      await createLock(path, text, `${path}.${process.pid}.${nonce}`, options);
      return new OffsetFileLock(path, key, text, options.logger);
    } catch (error) {
      heldInProcess.delete(key);
      throw error;
    }
  }

  /** Removes the lock file if it is still ours, then frees the path in this process. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      const current = await readFile(this.path, 'utf8').catch(() => undefined);
      if (current !== this.text) {
        this.logger.warn({ lock: this.path }, 'the offset file lock is not ours any more; leaving it');
        return;
      }
      await unlink(this.path).catch((error: unknown) => this.logger.warn({ lock: this.path, err: error }, 'cannot remove the offset file lock'));
    } finally {
      // Only once the file is gone: a store of this process opening it meanwhile fails instead of taking it over.
      heldInProcess.delete(this.key);
    }
  }
}

/** True when `holder` is another live process of this host (this process's own pid is checked by the registry). */
function heldByOther(holder: Omit<LockContent, 'nonce'> | undefined): boolean {
  return holder !== undefined && holder.hostname === hostname() && holder.pid !== process.pid && processAlive(holder.pid);
}

/** Link-creates the lock file with `text`, taking over stale locks; throws OFFSET_STORE_LOCKED when it is held. */
async function createLock(path: string, text: string, scratch: string, options: OffsetFileLockOptions): Promise<void> {
  const tmp = `${scratch}.tmp`;
  try {
    await writeFile(tmp, text, { flag: 'wx' });
  } catch (error) {
    throw lockError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot create the lock file ${path}: ${(error as Error).message}`, error);
  }
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (await linkExclusive(tmp, path)) return;
      const current = await readIfExists(path);
      if (current === undefined) continue; // released meanwhile: try again
      const holder = parseLock(current);
      if (heldByOther(holder)) {
        throw lockError(
          ClientErrorCode.OFFSET_STORE_LOCKED,
          `the offset file ${options.file} is in use by process ${holder!.pid} (client ${holder!.clientId}); give each instance on a host its own instanceName or offsetStoreDir`,
        );
      }
      // Left by a process that died (or by another host sharing the directory, which cannot be checked): take it over.
      options.logger.warn({ lock: path, previous: holder ?? null }, 'taking over a stale offset file lock');
      await removeStale(path, current, tmp, scratch, options);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  throw lockError(ClientErrorCode.OFFSET_STORE_LOCKED, `the offset file ${options.file} keeps changing hands; gave up taking its lock after ${MAX_ATTEMPTS} attempts`);
}

/** link() that reports an existing target as false instead of an error. */
async function linkExclusive(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (error) {
    if (codeOf(error) === 'EEXIST') return false;
    throw lockError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot create the lock file ${to}: ${(error as Error).message}`, error);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw lockError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot read the lock file ${path}: ${(error as Error).message}`, error);
  }
}

/**
 * Removes the stale lock whose text is `staleText`, under the takeover guard `<lock>.takeover` (link-created from
 * our lock's temp file, so it names us): several processes may find the same stale lock, only the guard's holder
 * removes it, and only after checking it is still that lock. Removing by name without the guard could remove a lock
 * a faster taker has just created in its place. A live process holding the guard is about to own the lock:
 * OFFSET_STORE_LOCKED. A guard left by a taker that died is moved aside (see moveAside).
 */
async function removeStale(path: string, staleText: string, tmp: string, scratch: string, options: OffsetFileLockOptions): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await linkExclusive(tmp, guard))) {
    const guardText = await readIfExists(guard);
    if (guardText === undefined) return; // that takeover just ended: look again
    const taker = parseLock(guardText);
    if (heldByOther(taker)) {
      throw lockError(ClientErrorCode.OFFSET_STORE_LOCKED, `the offset file ${options.file} is being taken over by process ${taker!.pid} (client ${taker!.clientId})`);
    }
    options.logger.warn({ lock: path, taker: taker ?? null }, 'removing the takeover guard of an offset file lock left by a dead process');
    await moveAside(guard, guardText, `${scratch}.guard`, options.logger);
    return;
  }
  try {
    // Only the guard's holder removes a stale lock: if it is still the one judged stale, nobody else can remove it now.
    if ((await readIfExists(path)) === staleText) {
      await unlink(path).catch((error: unknown) => {
        if (codeOf(error) !== 'ENOENT') throw lockError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot take over the lock file ${path}: ${(error as Error).message}`, error);
      });
    }
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

/**
 * Moves a dead taker's guard out of the way. Renaming is atomic: of several processes one moves it, the others get
 * ENOENT. One that was overtaken (the guard it moved is a live taker's newer one, its text tells) links it back.
 */
async function moveAside(path: string, staleText: string, aside: string, logger: ClientLogger): Promise<void> {
  try {
    await rename(path, aside);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return;
    throw lockError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot move aside ${path}: ${(error as Error).message}`, error);
  }
  try {
    if ((await readFile(aside, 'utf8').catch(() => undefined)) === staleText) return;
    await link(aside, path).catch((error: unknown) => logger.error({ path, err: error }, 'a live takeover guard of an offset file lock was moved aside and cannot be put back'));
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}
