import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, StorageErrorCode } from './errors.js';
import { IndexFile } from './index-file.js';
import type { IndexWalkRange } from './index-file.js';

export interface IndexServiceOptions {
  /** Hash buckets per file (default 500,000). */
  slotCount?: number;
  /** Entries per file before rolling to a new one (default 2,000,000; ~50 MB per file with the default slots). */
  maxEntriesPerFile?: number;
}

export interface IndexLookupOptions {
  /** Default 64. */
  maxResults?: number;
  /** Inclusive store-timestamp bounds; files and entries outside are skipped. */
  beginTimestamp?: number;
  endTimestamp?: number;
}

const FILE_NAME = /^\d{20}$/;
const MAX_U32 = 0xffff_ffff;

/**
 * Persistent hash index over the commit log: maps 32-bit hashes (of message ids and keys) to candidate
 * commit-log offsets. The store hashes, and verifies candidates by reading the records. Everything here is
 * derived data: on damage we drop what is suspect and let the store re-index after `maxIndexedOffset`.
 */
export class IndexService {
  private readonly dir: string;
  private readonly slotCount: number;
  private readonly maxEntries: number;
  /** Ordered by begin offset, oldest first. */
  private files: IndexFile[] = [];
  /** Writable, in-memory newest file; null until the next add() rolls. */
  private active: IndexFile | null = null;
  private maxOffset = -1;
  private closed = false;
  /** Serializes flush / truncate / retention / close. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Paths renamed aside with a `.corrupt` suffix when opening. */
  readonly corruptFiles: string[] = [];

  private constructor(dir: string, slotCount: number, maxEntries: number) {
    this.dir = dir;
    this.slotCount = slotCount;
    this.maxEntries = maxEntries;
  }

  /**
   * Loads the index files of `dir`. A file with a bad header is renamed aside (`.corrupt`) and every newer file
   * dropped, so `maxIndexedOffset` falls back to what the intact older files cover and the store re-indexes the rest.
   */
  static async open(dir: string, options: IndexServiceOptions = {}): Promise<IndexService> {
    const slotCount = options.slotCount ?? 500_000;
    const maxEntries = options.maxEntriesPerFile ?? 2_000_000;
    if (!isCount(slotCount) || !isCount(maxEntries)) {
      throw new RangeError(`index slotCount and maxEntriesPerFile must be integers in [1, ${MAX_U32}]`);
    }
    await mkdir(dir, { recursive: true });
    const service = new IndexService(dir, slotCount, maxEntries);
    await service.load();
    return service;
  }

  /** Highest commit-log offset indexed so far, -1 if none. */
  get maxIndexedOffset(): number {
    return this.maxOffset;
  }

  /** Indexes one hash → offset. Synchronous and in memory; offsets must not decrease. */
  add(hash: number, commitLogOffset: number, storeTimestamp: number): void {
    this.assertOpen();
    if (commitLogOffset < this.maxOffset) {
      throw new StorageError(
        StorageErrorCode.INDEX_OUT_OF_ORDER,
        `index offset ${commitLogOffset} is below the last indexed offset ${this.maxOffset}`,
      );
    }
    let file = this.active;
    if (file === null || file.isFull) file = this.roll(commitLogOffset);
    file.append(hash >>> 0, commitLogOffset, storeTimestamp);
    this.maxOffset = commitLogOffset;
  }

  /** Candidate offsets whose entries carry exactly `hash`, newest first, across files. */
  async lookup(hash: number, options: IndexLookupOptions = {}): Promise<number[]> {
    const max = options.maxResults ?? 64;
    const range: IndexWalkRange = {
      beginTimestamp: options.beginTimestamp ?? Number.NEGATIVE_INFINITY,
      endTimestamp: options.endTimestamp ?? Number.POSITIVE_INFINITY,
    };
    const out: number[] = [];
    const files = this.files.slice();
    for (let i = files.length - 1; i >= 0 && out.length < max; i--) {
      const file = files[i];
      if (!file.overlaps(range) || !file.acquire()) continue;
      try {
        await file.collect(hash >>> 0, range, out, max);
      } finally {
        file.release();
      }
    }
    return out;
  }

  flush(): Promise<void> {
    return this.exclusive(() => {
      this.assertOpen();
      return this.flushAll();
    });
  }

  /** Removes every entry with offset ≥ `commitLogOffset`. Must not run concurrently with add(). */
  truncateFrom(commitLogOffset: number): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      await this.flushAll();
      while (this.files.length > 0) {
        const last = this.files[this.files.length - 1];
        if (last.entryCount > 0 && last.beginOffset < commitLogOffset) break;
        this.files.pop();
        if (last === this.active) this.active = null;
        await last.delete();
      }
      const last = this.files.at(-1);
      if (last !== undefined && (last.endOffset >= commitLogOffset || !last.isFull)) {
        // Entries are in offset order, so only the newest surviving file can hold offsets ≥ the cut.
        await last.loadImage();
        const keep = last.countBelow(commitLogOffset);
        if (keep < last.entryCount) last.truncateEntries(keep);
        this.active = last.isFull ? null : last;
      }
      this.maxOffset = last !== undefined ? last.endOffset : -1;
      await this.flushAll();
    });
  }

  /** Retention: deletes sealed files whose every entry is below `commitLogOffset`; returns how many. */
  deleteFilesBefore(commitLogOffset: number): Promise<number> {
    return this.exclusive(async () => {
      this.assertOpen();
      let deleted = 0;
      // The newest file always stays: it carries maxIndexedOffset across restarts.
      while (this.files.length > 1) {
        const first = this.files[0];
        if (first === this.active || first.endOffset >= commitLogOffset) break;
        this.files.shift();
        await first.delete();
        deleted++;
      }
      return deleted;
    });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      await this.flushAll();
      this.closed = true;
      this.active = null;
      const files = this.files;
      this.files = [];
      for (const file of files) await file.close();
    });
  }

  private roll(commitLogOffset: number): IndexFile {
    const prev = this.files.at(-1);
    // A file holding only one offset's entries would give the next file the same name: bump it.
    const name = prev !== undefined && prev.nameOffset >= commitLogOffset ? prev.nameOffset + 1 : commitLogOffset;
    const file = IndexFile.create(this.dir, name, this.slotCount, this.maxEntries);
    this.files.push(file);
    this.active = file;
    return file;
  }

  private async flushAll(): Promise<void> {
    // Oldest first: a newer file reaches the disk only after the older one is complete.
    for (const file of this.files.slice()) {
      if (file.inMemory) await file.flush();
    }
  }

  private async load(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => FILE_NAME.test(n)).sort();
    for (let i = 0; i < names.length; i++) {
      const file = await IndexFile.load(this.dir, Number(names[i]));
      if (file === null) {
        const path = join(this.dir, names[i]);
        await rename(path, `${path}.corrupt`);
        this.corruptFiles.push(`${path}.corrupt`);
        for (const newer of names.slice(i + 1)) await unlink(join(this.dir, newer));
        break;
      }
      if (file.entryCount === 0) {
        await file.delete();
        continue;
      }
      this.files.push(file);
    }
    const last = this.files.at(-1);
    if (last === undefined) return;
    this.maxOffset = last.endOffset;
    if (!last.isFull) {
      await last.loadImage();
      this.active = last;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError(StorageErrorCode.STORE_CLOSED, 'index service is closed');
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_U32;
}
