import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import { OffsetFileLock } from './offset-file-lock.js';

/** Format version of the offset file. */
export const OFFSET_FILE_VERSION = 1;

/** One queue's offset as stored in the file. */
export interface StoredQueueOffset {
  topic: string;
  brokerName: string;
  queueId: number;
  /** Next offset to consume (everything below it was processed). */
  offset: number;
}

/** The offset file: `{ version, group, instanceName, updatedAt, offsets: [...] }`, pretty-printed JSON. */
export interface OffsetFile {
  version: typeof OFFSET_FILE_VERSION;
  group: string;
  instanceName: string;
  updatedAt: number;
  offsets: StoredQueueOffset[];
}

export interface LocalOffsetStoreOptions {
  /** The offset file. A `<path>.lock` file next to it marks it as in use. */
  path: string;
  group: string;
  instanceName: string;
  /** Written into the lock file (diagnostics). */
  clientId: string;
  logger: ClientLogger;
}

function storeError(code: ClientErrorCode, message: string, cause?: unknown): ClientError {
  return new ClientError(code, message, cause === undefined ? {} : { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Parses and checks an offset file's text; throws OFFSET_STORE_CORRUPT naming the problem. */
export function parseOffsetFile(path: string, text: string, group: string): OffsetFile {
  const corrupt = (problem: string, cause?: unknown): ClientError =>
    storeError(ClientErrorCode.OFFSET_STORE_CORRUPT, `local offset file ${path} ${problem}; fix or delete it (the consumer then starts from consumeFromWhere)`, cause);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw corrupt(`is not valid JSON (${(error as Error).message})`, error);
  }
  if (!isRecord(value)) throw corrupt('is not a JSON object');
  if (value.version !== OFFSET_FILE_VERSION) throw corrupt(`has version ${JSON.stringify(value.version ?? null)}, expected ${OFFSET_FILE_VERSION}`);
  if (value.group !== group) throw corrupt(`belongs to group ${JSON.stringify(value.group ?? null)}, not ${JSON.stringify(group)}`);
  if (!Array.isArray(value.offsets)) throw corrupt('has no offsets array');
  const offsets: StoredQueueOffset[] = value.offsets.map((entry: unknown, i: number) => {
    if (!isRecord(entry) || typeof entry.topic !== 'string' || typeof entry.brokerName !== 'string' || !isOffset(entry.queueId) || !isOffset(entry.offset)) {
      throw corrupt(`has an invalid entry offsets[${i}]: ${JSON.stringify(entry)}`);
    }
    return { topic: entry.topic, brokerName: entry.brokerName, queueId: entry.queueId, offset: entry.offset };
  });
  return {
    version: OFFSET_FILE_VERSION,
    group,
    instanceName: typeof value.instanceName === 'string' ? value.instanceName : '',
    updatedAt: typeof value.updatedAt === 'number' ? value.updatedAt : 0,
    offsets,
  };
}

/** Writes `text` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  // Make the rename itself durable. Some platforms cannot open or fsync a directory: the rename is still atomic.
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Offsets of a broadcasting consumer instance, kept in one local JSON file per (instance, group).
 *
 * - `open()` takes the file's lock (`<path>.lock`, holding pid, hostname and client id; offset-file-lock.ts) and
 *   loads the file. A lock held by another live process on this host or another store of this process fails with
 *   OFFSET_STORE_LOCKED; a lock left by a dead process (a crash, SIGKILL) is taken over. A file that is not a valid offset file fails with OFFSET_STORE_CORRUPT: the
 *   store never silently starts over, since that could skip or replay a whole backlog.
 * - `update()` records offsets in memory; `persist()` writes the whole file atomically (temp file + fsync +
 *   rename) when something changed, one write at a time; a crash leaves the previous or the new file, never a mix.
 * - Offsets of queues no longer subscribed are kept as they are.
 */
export class LocalOffsetStore {
  private readonly offsets = new Map<string, StoredQueueOffset>();
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;
  private fileLock: OffsetFileLock | undefined;

  private constructor(private readonly options: LocalOffsetStoreOptions) {}

  get path(): string {
    return this.options.path;
  }

  /** Takes the lock and loads the file (a missing file is an empty store). */
  static async open(options: LocalOffsetStoreOptions): Promise<LocalOffsetStore> {
    const store = new LocalOffsetStore(options);
    try {
      await mkdir(dirname(options.path), { recursive: true });
    } catch (error) {
      throw storeError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot create the offset directory ${dirname(options.path)}: ${(error as Error).message}`, error);
    }
    await store.lock();
    try {
      await store.load();
    } catch (error) {
      await store.unlock();
      throw error;
    }
    return store;
  }

  /** Number of queues with a stored offset. */
  get size(): number {
    return this.offsets.size;
  }

  /** The stored offset of a queue, or undefined when the file has none. */
  read(queue: MessageQueue): number | undefined {
    return this.offsets.get(queueKey(queue))?.offset;
  }

  has(queue: MessageQueue): boolean {
    return this.offsets.has(queueKey(queue));
  }

  /** Every stored offset (a copy). */
  entries(): StoredQueueOffset[] {
    return [...this.offsets.values()].map((entry) => ({ ...entry }));
  }

  /** Records a queue's offset in memory; persist() writes it. */
  update(queue: MessageQueue, offset: number): void {
    if (!isOffset(offset)) throw new RangeError(`offset must be a non-negative integer, got ${String(offset)}`);
    const key = queueKey(queue);
    if (this.offsets.get(key)?.offset === offset) return;
    this.offsets.set(key, { topic: queue.topic, brokerName: queue.brokerName, queueId: queue.queueId, offset });
    this.dirty = true;
  }

  /** Writes the file if anything changed since the last write. Writes never overlap. */
  persist(): Promise<void> {
    const next = this.saving.catch(() => undefined).then(() => this.save());
    this.saving = next;
    return next;
  }

  /** Persists and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.persist();
    } finally {
      this.closed = true;
      await this.unlock();
    }
  }

  private async save(): Promise<void> {
    if (!this.dirty || this.closed) return;
    this.dirty = false;
    const file: OffsetFile = {
      version: OFFSET_FILE_VERSION,
      group: this.options.group,
      instanceName: this.options.instanceName,
      updatedAt: Date.now(),
      offsets: [...this.offsets.values()].sort((a, b) => (a.topic !== b.topic ? (a.topic < b.topic ? -1 : 1) : a.brokerName !== b.brokerName ? (a.brokerName < b.brokerName ? -1 : 1) : a.queueId - b.queueId)),
    };
    try {
      await writeAtomic(this.options.path, `${JSON.stringify(file, null, 2)}\n`);
    } catch (error) {
      this.dirty = true;
      throw storeError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot write the offset file ${this.options.path}: ${(error as Error).message}`, error);
    }
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw storeError(ClientErrorCode.OFFSET_STORE_FAILED, `cannot read the offset file ${this.options.path}: ${(error as Error).message}`, error);
    }
    const file = parseOffsetFile(this.options.path, text, this.options.group);
    for (const entry of file.offsets) this.offsets.set(queueKey(entry), entry);
    this.options.logger.info({ path: this.options.path, queues: this.offsets.size, updatedAt: file.updatedAt }, 'local offsets loaded');
  }

  private async lock(): Promise<void> {
    this.fileLock = await OffsetFileLock.acquire({ file: this.options.path, clientId: this.options.clientId, logger: this.options.logger });
  }

  private async unlock(): Promise<void> {
    const fileLock = this.fileLock;
    this.fileLock = undefined;
    await fileLock?.release();
  }
}
