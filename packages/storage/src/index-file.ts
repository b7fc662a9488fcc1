import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { putU32BE, readU64, writeU64 } from '@litemq/protocol';
import { StorageError, StorageErrorCode } from './errors.js';

/**
 * One fixed-capacity index file (RocketMQ IndexFile style): a header, `slotCount` u32 slots holding the
 * 1-based position of the newest entry of each bucket (0 = empty), then fixed 24-byte entries
 * `[hash u32][commitLogOffset u64][storeTimestamp u64][prevEntry u32]` chaining each bucket newest → oldest.
 * The writable file lives in one Buffer and flushes only its dirty parts; sealed files are read positionally.
 */
export const INDEX_MAGIC = 0x4c4d5149; // 'LMQI'
export const INDEX_VERSION = 1;
export const INDEX_HEADER_SIZE = 64;
export const INDEX_ENTRY_SIZE = 24;

const H_MAGIC = 0;
const H_VERSION = 4;
const H_BEGIN_TS = 8;
const H_END_TS = 16;
const H_BEGIN_OFFSET = 24;
const H_END_OFFSET = 32;
const H_ENTRY_COUNT = 40;
const H_SLOT_COUNT = 44;
const H_MAX_ENTRIES = 48;
const H_CRC = 52;

const E_OFFSET = 4;
const E_TIMESTAMP = 12;
const E_PREV = 20;

export function indexFileName(beginOffset: number): string {
  return String(beginOffset).padStart(20, '0');
}

export function indexFileSize(slotCount: number, maxEntries: number): number {
  return INDEX_HEADER_SIZE + slotCount * 4 + maxEntries * INDEX_ENTRY_SIZE;
}

export interface IndexWalkRange {
  beginTimestamp: number;
  endTimestamp: number;
}

export class IndexFile {
  readonly path: string;
  /** Begin offset encoded in the file name (orders the files). */
  readonly nameOffset: number;
  readonly slotCount: number;
  readonly maxEntries: number;
  entryCount = 0;
  beginTimestamp = 0;
  endTimestamp = 0;
  beginOffset = 0;
  endOffset = 0;

  /** Whole file image while writable or not yet flushed; null once sealed and persisted. */
  private image: Buffer | null;
  private fh: FileHandle | null;
  private readonly entriesBase: number;
  /** Entries [0, flushedCount) are on disk; the rest are new. */
  private flushedCount = 0;
  private slotDirtyLo = Number.MAX_SAFE_INTEGER;
  private slotDirtyHi = -1;
  private headerDirty = false;
  private readonly headerBuf = Buffer.alloc(INDEX_HEADER_SIZE);
  private readers = 0;
  private idle: (() => void) | null = null;
  retired = false;

  private constructor(
    dir: string,
    nameOffset: number,
    slotCount: number,
    maxEntries: number,
    image: Buffer | null,
    fh: FileHandle | null,
  ) {
    this.path = join(dir, indexFileName(nameOffset));
    this.nameOffset = nameOffset;
    this.slotCount = slotCount;
    this.maxEntries = maxEntries;
    this.image = image;
    this.fh = fh;
    this.entriesBase = INDEX_HEADER_SIZE + slotCount * 4;
  }

  /** A new in-memory file; it reaches the disk on the first flush (created full-size so positions are stable). */
  static create(dir: string, nameOffset: number, slotCount: number, maxEntries: number): IndexFile {
    const image = Buffer.alloc(indexFileSize(slotCount, maxEntries));
    const file = new IndexFile(dir, nameOffset, slotCount, maxEntries, image, null);
    file.headerDirty = true;
    return file;
  }

  /** Opens an existing file and validates its header; returns null (fd closed) if the header is unusable. */
  static async load(dir: string, nameOffset: number): Promise<IndexFile | null> {
    const fh = await open(join(dir, indexFileName(nameOffset)), 'r+');
    try {
      const header = Buffer.alloc(INDEX_HEADER_SIZE);
      const { bytesRead } = await fh.read(header, 0, INDEX_HEADER_SIZE, 0);
      const size = (await fh.stat()).size;
      const slotCount = header.readUInt32BE(H_SLOT_COUNT);
      const maxEntries = header.readUInt32BE(H_MAX_ENTRIES);
      const entryCount = header.readUInt32BE(H_ENTRY_COUNT);
      const valid =
        bytesRead === INDEX_HEADER_SIZE &&
        header.readUInt32BE(H_MAGIC) === INDEX_MAGIC &&
        header.readUInt32BE(H_VERSION) === INDEX_VERSION &&
        header.readUInt32BE(H_CRC) === crc32(header.subarray(0, H_CRC)) &&
        slotCount > 0 &&
        maxEntries > 0 &&
        entryCount <= maxEntries &&
        size === indexFileSize(slotCount, maxEntries);
      if (!valid) {
        await fh.close();
        return null;
      }
      const file = new IndexFile(dir, nameOffset, slotCount, maxEntries, null, fh);
      file.entryCount = entryCount;
      file.flushedCount = entryCount;
      file.beginTimestamp = readU64(header, H_BEGIN_TS);
      file.endTimestamp = readU64(header, H_END_TS);
      file.beginOffset = readU64(header, H_BEGIN_OFFSET);
      file.endOffset = readU64(header, H_END_OFFSET);
      return file;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get isFull(): boolean {
    return this.entryCount >= this.maxEntries;
  }

  get inMemory(): boolean {
    return this.image !== null;
  }

  /** Hot path: caller guarantees the file is in memory and not full. No allocation. */
  append(hash: number, commitLogOffset: number, storeTimestamp: number): void {
    const img = this.image as Buffer;
    const pos = this.entryCount + 1;
    const slotAt = INDEX_HEADER_SIZE + (hash % this.slotCount) * 4;
    const at = this.entriesBase + this.entryCount * INDEX_ENTRY_SIZE;
    // Plain byte stores: positions are inside the image by construction (entryCount < maxEntries, slot < slotCount),
    // and writeUInt32BE's per-call argument checks cost about as much as the stores (measured ~80 ns per entry).
    putU32BE(img, at, hash);
    writeU64(img, at + E_OFFSET, commitLogOffset);
    writeU64(img, at + E_TIMESTAMP, storeTimestamp);
    img[at + E_PREV] = img[slotAt]!;
    img[at + E_PREV + 1] = img[slotAt + 1]!;
    img[at + E_PREV + 2] = img[slotAt + 2]!;
    img[at + E_PREV + 3] = img[slotAt + 3]!;
    putU32BE(img, slotAt, pos);
    this.markSlotDirty(slotAt);
    if (this.entryCount === 0) {
      this.beginOffset = commitLogOffset;
      this.beginTimestamp = storeTimestamp;
      this.endTimestamp = storeTimestamp;
    } else if (storeTimestamp < this.beginTimestamp) {
      this.beginTimestamp = storeTimestamp;
    }
    if (storeTimestamp > this.endTimestamp) this.endTimestamp = storeTimestamp;
    this.endOffset = commitLogOffset;
    this.entryCount = pos;
    this.headerDirty = true;
  }

  overlaps(range: IndexWalkRange): boolean {
    return this.entryCount > 0 && this.endTimestamp >= range.beginTimestamp && this.beginTimestamp <= range.endTimestamp;
  }

  /**
   * Pushes offsets of entries with exactly `hash` (newest first) into `out` until it holds `max`. Positions must
   * strictly decrease and stay within entryCount, so a corrupt chain ends the walk instead of looping.
   */
  async collect(hash: number, range: IndexWalkRange, out: number[], max: number): Promise<void> {
    if (this.image !== null) {
      this.collectInMemory(this.image, hash, range, out, max);
      return;
    }
    const fh = this.fh;
    if (fh === null) return;
    const buf = Buffer.allocUnsafe(INDEX_ENTRY_SIZE);
    await readFully(fh, buf, 4, INDEX_HEADER_SIZE + (hash % this.slotCount) * 4, this.path);
    let pos = buf.readUInt32BE(0);
    while (pos > 0 && pos <= this.entryCount && out.length < max) {
      await readFully(fh, buf, INDEX_ENTRY_SIZE, this.entriesBase + (pos - 1) * INDEX_ENTRY_SIZE, this.path);
      pos = this.visit(buf, 0, pos, hash, range, out);
    }
  }

  private collectInMemory(img: Buffer, hash: number, range: IndexWalkRange, out: number[], max: number): void {
    let pos = img.readUInt32BE(INDEX_HEADER_SIZE + (hash % this.slotCount) * 4);
    while (pos > 0 && pos <= this.entryCount && out.length < max) {
      pos = this.visit(img, this.entriesBase + (pos - 1) * INDEX_ENTRY_SIZE, pos, hash, range, out);
    }
  }

  /** Emits the entry at `at` if it matches; returns the next position, or 0 to stop. */
  private visit(buf: Buffer, at: number, pos: number, hash: number, range: IndexWalkRange, out: number[]): number {
    if (buf.readUInt32BE(at) === hash) {
      const ts = readU64(buf, at + E_TIMESTAMP);
      if (ts >= range.beginTimestamp && ts <= range.endTimestamp) out.push(readU64(buf, at + E_OFFSET));
    }
    const prev = buf.readUInt32BE(at + E_PREV);
    return prev < pos ? prev : 0;
  }

  /** Number of leading entries whose offset is below `commitLogOffset` (entries are in offset order). */
  countBelow(commitLogOffset: number): number {
    const img = this.requireImage();
    let lo = 0;
    let hi = this.entryCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (readU64(img, this.entriesBase + mid * INDEX_ENTRY_SIZE + E_OFFSET) < commitLogOffset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Loads the whole file into memory to make it writable again; rebuilds chains so a torn tail cannot hurt. */
  async loadImage(): Promise<void> {
    if (this.image !== null) return;
    const fh = this.requireHandle();
    const img = Buffer.allocUnsafe(indexFileSize(this.slotCount, this.maxEntries));
    await readFully(fh, img, img.length, 0, this.path);
    this.image = img;
    this.truncateEntries(this.entryCount);
  }

  /**
   * Keeps the first `count` entries: zeroes the rest in memory, rebuilds the slot table and prev links from the
   * kept entries, recomputes the header, and marks dirty only what changed.
   */
  truncateEntries(count: number): void {
    const img = this.requireImage();
    const slotsEnd = this.entriesBase;
    img.fill(0, this.entriesBase + count * INDEX_ENTRY_SIZE);
    const oldSlots = Buffer.from(img.subarray(INDEX_HEADER_SIZE, slotsEnd));
    img.fill(0, INDEX_HEADER_SIZE, slotsEnd);
    let firstChanged = count;
    let beginTs = 0;
    let endTs = 0;
    for (let i = 0; i < count; i++) {
      const at = this.entriesBase + i * INDEX_ENTRY_SIZE;
      const slotAt = INDEX_HEADER_SIZE + (img.readUInt32BE(at) % this.slotCount) * 4;
      const prev = img.readUInt32BE(slotAt);
      if (img.readUInt32BE(at + E_PREV) !== prev) {
        img.writeUInt32BE(prev, at + E_PREV);
        if (i < firstChanged) firstChanged = i;
      }
      img.writeUInt32BE(i + 1, slotAt);
      const ts = readU64(img, at + E_TIMESTAMP);
      if (i === 0 || ts < beginTs) beginTs = ts;
      if (i === 0 || ts > endTs) endTs = ts;
    }
    for (let s = 0; s < oldSlots.length; s += 4) {
      if (oldSlots.readUInt32BE(s) !== img.readUInt32BE(INDEX_HEADER_SIZE + s)) {
        this.markSlotDirty(INDEX_HEADER_SIZE + s);
      }
    }
    this.entryCount = count;
    this.flushedCount = Math.min(this.flushedCount, firstChanged);
    this.beginTimestamp = beginTs;
    this.endTimestamp = endTs;
    this.beginOffset = count > 0 ? readU64(img, this.entriesBase + E_OFFSET) : 0;
    this.endOffset = count > 0 ? readU64(img, this.entriesBase + (count - 1) * INDEX_ENTRY_SIZE + E_OFFSET) : 0;
    this.headerDirty = true;
  }

  /**
   * Writes new entries and dirty slots, syncs, then writes the header and syncs again: the header never counts
   * entries that are not yet durable. A sealed file drops its image once fully persisted.
   */
  async flush(): Promise<void> {
    const img = this.image;
    if (img === null || !this.headerDirty) return;
    if (this.fh === null) {
      const fh = await open(this.path, 'w+');
      try {
        await fh.truncate(img.length);
      } catch (err) {
        await fh.close();
        throw err;
      }
      this.fh = fh;
    }
    const fh = this.fh;
    // Snapshot synchronously: add() may run while the writes are in flight; it re-marks what it touches.
    const count = this.entryCount;
    const entriesFrom = this.entriesBase + this.flushedCount * INDEX_ENTRY_SIZE;
    const entriesTo = this.entriesBase + count * INDEX_ENTRY_SIZE;
    const slotsFrom = this.slotDirtyLo;
    const slotsTo = this.slotDirtyHi + 4;
    this.encodeHeader(this.headerBuf);
    const prevFlushed = this.flushedCount;
    this.flushedCount = count;
    this.slotDirtyLo = Number.MAX_SAFE_INTEGER;
    this.slotDirtyHi = -1;
    this.headerDirty = false;
    try {
      if (entriesTo > entriesFrom) await writeFully(fh, img, entriesFrom, entriesTo - entriesFrom, entriesFrom);
      if (slotsTo > slotsFrom) await writeFully(fh, img, slotsFrom, slotsTo - slotsFrom, slotsFrom);
      await fh.datasync();
      await writeFully(fh, this.headerBuf, 0, INDEX_HEADER_SIZE, 0);
      await fh.datasync();
    } catch (err) {
      this.flushedCount = Math.min(this.flushedCount, prevFlushed);
      if (slotsTo > slotsFrom) {
        this.markSlotDirty(slotsFrom);
        this.markSlotDirty(slotsTo - 4);
      }
      this.headerDirty = true;
      throw err;
    }
    if (this.isFull && !this.headerDirty) this.image = null;
  }

  /** Waits for in-flight lookups, then closes the fd. */
  async close(): Promise<void> {
    this.retired = true;
    if (this.readers > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.image = null;
    const fh = this.fh;
    this.fh = null;
    if (fh !== null) await fh.close();
  }

  async delete(): Promise<void> {
    const existed = this.fh !== null;
    await this.close();
    if (existed) await unlink(this.path);
  }

  /** Lookups hold the file open so retention or truncation waits for them. */
  acquire(): boolean {
    if (this.retired) return false;
    this.readers++;
    return true;
  }

  release(): void {
    this.readers--;
    if (this.readers === 0 && this.idle !== null) {
      const resolve = this.idle;
      this.idle = null;
      resolve();
    }
  }

  private encodeHeader(buf: Buffer): void {
    buf.fill(0);
    buf.writeUInt32BE(INDEX_MAGIC, H_MAGIC);
    buf.writeUInt32BE(INDEX_VERSION, H_VERSION);
    writeU64(buf, H_BEGIN_TS, this.beginTimestamp);
    writeU64(buf, H_END_TS, this.endTimestamp);
    writeU64(buf, H_BEGIN_OFFSET, this.beginOffset);
    writeU64(buf, H_END_OFFSET, this.endOffset);
    buf.writeUInt32BE(this.entryCount, H_ENTRY_COUNT);
    buf.writeUInt32BE(this.slotCount, H_SLOT_COUNT);
    buf.writeUInt32BE(this.maxEntries, H_MAX_ENTRIES);
    buf.writeUInt32BE(crc32(buf.subarray(0, H_CRC)), H_CRC);
  }

  private markSlotDirty(slotAt: number): void {
    if (slotAt < this.slotDirtyLo) this.slotDirtyLo = slotAt;
    if (slotAt > this.slotDirtyHi) this.slotDirtyHi = slotAt;
  }

  private requireImage(): Buffer {
    if (this.image === null) throw new StorageError(StorageErrorCode.INDEX_CORRUPT, `${this.path}: index file not loaded`);
    return this.image;
  }

  private requireHandle(): FileHandle {
    if (this.fh === null) throw new StorageError(StorageErrorCode.INDEX_CORRUPT, `${this.path}: index file not open`);
    return this.fh;
  }
}

async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new StorageError(StorageErrorCode.INDEX_CORRUPT, `${path}: short read at byte ${position + done}`);
    }
    done += bytesRead;
  }
}

async function writeFully(fh: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, offset + done, length - done, position + done);
    done += bytesWritten;
  }
}
