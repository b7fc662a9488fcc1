import { ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SegmentFile } from './segment-file.js';
import { readSegment, retireSegment } from './segment-file.js';
import { StorageError, StorageErrorCode } from './errors.js';
import { listSegmentStarts, segmentFileName } from './file-names.js';
import { SYNC_READ_WINDOW_BYTES, readFullySync, syncData, writeFullySync } from './fs-io.js';
import { syncDirectory } from './sync-directory.js';

/** Marker written at the tail of a segment when the next record does not fit: [u32 size][u32 0][u16 magic]. */
export const END_OF_SEGMENT_MAGIC = 0x4c42;
export const END_OF_SEGMENT_MIN_BYTES = 16;

interface Segment extends SegmentFile {
  start: number;
  /** Bytes in the file; a full segment always holds exactly segmentBytes. */
  size: number;
  dirty: boolean;
}

/** Log blocks kept for recent reads (see CommitLog.copyRecent): 16 × 1 MiB, allocated on first use. */
export const CACHE_BLOCK_BYTES = 1024 * 1024;
const CACHE_BLOCKS = 16;

interface CachedBlock {
  /** Commit-log offset of the first byte. */
  start: number;
  /** Bytes this block may hold (it never crosses a segment end or a CACHE_BLOCK_BYTES boundary). */
  capacity: number;
  /** Bytes read so far (always below the written position at the time they were read). */
  valid: number;
  /** Last use, for least-recently-used replacement. */
  used: number;
  fd: number;
  buf: Buffer;
  /** Set while the block is read through the thread pool (see loadBlock). */
  loading?: Promise<void>;
}

interface PendingWrite {
  segment: Segment;
  position: number;
  buffers: Buffer[];
}

/**
 * The single append-only log of every message, split into fixed-capacity segment files named by their
 * start offset. Offsets are absolute byte positions across segments. Only one writer (the store's
 * append loop) reserves space and writes; readers use positional reads.
 */
export class CommitLog {
  private segments: Segment[] = [];
  private pending: PendingWrite[] = [];
  /** Next offset to reserve (may be ahead of what is written while a batch is being prepared). */
  private reservePos = 0;
  /** Everything below is written to the OS. */
  private writtenPos = 0;

  private constructor(
    readonly dir: string,
    readonly segmentBytes: number,
  ) {}

  static async open(dir: string, segmentBytes: number): Promise<CommitLog> {
    await mkdir(dir, { recursive: true });
    const log = new CommitLog(dir, segmentBytes);
    for (const start of await listSegmentStarts(dir)) {
      if (start % segmentBytes !== 0) {
        throw new StorageError(StorageErrorCode.INVALID_OPTIONS, `segment ${segmentFileName(start)} does not match segmentBytes=${segmentBytes}; open the store with the segment size it was created with`);
      }
      const path = join(dir, segmentFileName(start));
      const size = (await stat(path)).size;
      log.segments.push({ start, fd: openSync(path, 'r+'), size, dirty: false, readers: 0, retired: false });
    }
    const last = log.segments.at(-1);
    log.reservePos = log.writtenPos = last ? last.start + last.size : 0;
    return log;
  }

  get minOffset(): number {
    return this.segments[0]?.start ?? this.writtenPos;
  }

  /** End of the written log: the offset the next record will get. */
  get maxOffset(): number {
    return this.writtenPos;
  }

  segmentStarts(): number[] {
    return this.segments.map((segment) => segment.start);
  }

  segmentStartOf(offset: number): number {
    return offset - (offset % this.segmentBytes);
  }

  private segmentAt(offset: number): Segment | undefined {
    const first = this.segments[0];
    if (!first || offset < first.start) return undefined;
    const segment = this.segments[Math.floor((offset - first.start) / this.segmentBytes)];
    return segment && offset < segment.start + this.segmentBytes ? segment : undefined;
  }

  private newSegment(start: number): Segment {
    const fd = openSync(join(this.dir, segmentFileName(start)), 'w+');
    const segment: Segment = { start, fd, size: 0, dirty: true, readers: 0, retired: false };
    this.segments.push(segment);
    this.directoryDirty = true; // the new file's directory entry must be made durable too
    return segment;
  }

  private queue(segment: Segment, position: number, buf: Buffer): void {
    const last = this.pending.at(-1);
    if (last && last.segment === segment) last.buffers.push(buf);
    else this.pending.push({ segment, position, buffers: [buf] });
  }

  /**
   * Reserves `size` bytes for one record and queues its buffer; pads the current segment with an
   * end-of-segment marker and rolls to the next when the record does not fit. Returns its offset.
   */
  append(buf: Buffer): number {
    const size = buf.length;
    if (size + END_OF_SEGMENT_MIN_BYTES > this.segmentBytes) {
      throw new StorageError(StorageErrorCode.RECORD_TOO_LARGE, `record of ${size} bytes cannot fit a ${this.segmentBytes}-byte segment`);
    }
    let segment = this.segmentAt(this.reservePos) ?? this.newSegment(this.segmentStartOf(this.reservePos));
    const used = this.reservePos - segment.start;
    if (used + size + END_OF_SEGMENT_MIN_BYTES > this.segmentBytes) {
      const padding = Buffer.alloc(this.segmentBytes - used);
      padding.writeUInt32BE(padding.length, 0);
      padding.writeUInt16BE(END_OF_SEGMENT_MAGIC, 8);
      this.queue(segment, this.reservePos, padding);
      this.reservePos = segment.start + this.segmentBytes;
      segment = this.newSegment(this.reservePos);
    }
    const offset = this.reservePos;
    this.queue(segment, offset, buf);
    this.reservePos += size;
    return offset;
  }

  /** Whether `size` bytes can be appended to the current segment without rolling to the next one. */
  fitsInSegment(size: number): boolean {
    const segment = this.segmentAt(this.reservePos);
    return segment !== undefined && this.reservePos - segment.start + size + END_OF_SEGMENT_MIN_BYTES <= this.segmentBytes;
  }

  /** Writes everything reserved since the last call: one writev per touched segment. */
  writePending(): void {
    const pending = this.pending;
    this.pending = [];
    try {
      for (const write of pending) {
        writeFullySync(write.segment.fd, write.buffers, write.position - write.segment.start);
        let bytes = 0;
        for (const buf of write.buffers) bytes += buf.length;
        write.segment.size = Math.max(write.segment.size, write.position - write.segment.start + bytes);
        write.segment.dirty = true;
      }
      this.writtenPos = this.reservePos;
    } catch (error) {
      // Undo the whole batch before anything else is written: no byte of a rejected batch may stay in the log
      // (recovery would bring it back as a duplicate) and the next batch must land exactly at writtenPos.
      this.pending = [];
      this.reservePos = this.writtenPos;
      try {
        this.rollbackTo(this.writtenPos);
      } catch (rollbackError) {
        this.broken = new StorageError(StorageErrorCode.WRITE_FAILED, `commit-log rollback failed, refusing writes: ${(rollbackError as Error).message}`, { cause: rollbackError });
      }
      throw new StorageError(StorageErrorCode.WRITE_FAILED, `commit-log write failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Set when a failed batch could not be rolled back: the log's tail is unknown and it must not be written. */
  broken: StorageError | undefined;

  /** Synchronously cuts the files back to `offset` (segments after it are removed). */
  private rollbackTo(offset: number): void {
    this.dropBlocks();
    while (this.segments.length > 1 && this.segments.at(-1)!.start >= offset) {
      const segment = this.segments.pop()!;
      retireSegment(segment);
      unlinkSync(join(this.dir, segmentFileName(segment.start)));
    }
    const last = this.segments.at(-1);
    if (last && last.start + last.size > offset) {
      ftruncateSync(last.fd, offset - last.start);
      last.size = offset - last.start;
    }
  }

  /** Discards a reservation that was never written (the batch was rejected before writing). */
  abandonPending(): void {
    this.pending = [];
    this.reservePos = this.writtenPos;
    while (this.segments.length > 0 && this.segments.at(-1)!.start >= this.writtenPos && this.segments.at(-1)!.size === 0 && this.writtenPos > 0) {
      retireSegment(this.segments.pop()!);
    }
  }

  private syncChain: Promise<unknown> = Promise.resolve();
  private directoryDirty = false;

  /**
   * fdatasync every segment written since the last sync; returns the offset now known durable.
   * Serialized: a second caller must not see a segment as clean while the first one's fdatasync runs.
   */
  sync(): Promise<number> {
    const run = this.syncChain.then(() => this.syncDirty());
    this.syncChain = run.catch(() => undefined);
    return run;
  }

  private async syncDirty(): Promise<number> {
    const target = this.writtenPos;
    for (const segment of this.segments) {
      if (!segment.dirty) continue;
      segment.dirty = false;
      try {
        await syncData(segment.fd);
      } catch (error) {
        segment.dirty = true;
        throw error;
      }
    }
    if (this.directoryDirty) {
      this.directoryDirty = false;
      try {
        await syncDirectory(this.dir);
      } catch (error) {
        this.directoryDirty = true;
        throw error;
      }
    }
    return target;
  }

  /** Whether `offset` is recent enough for `read` to be served synchronously from the page cache. */
  isRecent(offset: number): boolean {
    return this.writtenPos - offset <= SYNC_READ_WINDOW_BYTES;
  }

  /**
   * Synchronous read of recent bytes (see isRecent) into `into` when it is large enough (else a new buffer):
   * the result is a view of `into`, valid until the caller reuses it. The range must lie inside one segment.
   */
  readRecentSync(offset: number, length: number, into: Buffer): Buffer {
    const segment = this.segmentAt(offset);
    if (!segment) return Buffer.alloc(0);
    const within = offset - segment.start;
    return readFullySync(segment.fd, Math.max(0, Math.min(length, segment.size - within)), within, into);
  }

  /**
   * Copies the recent bytes `[offset, offset + length)` (see isRecent) into `out` at `at` through a small cache
   * of log blocks: the records of one queue are interleaved with the other queues' records, so pulls of 8 queues
   * would otherwise read the same span of log 8 times. A block holds only bytes below the written position
   * (never unwritten or rolled-back bytes), is extended when the tail grows, and the cache is emptied whenever the
   * log is cut back. Returns false when the range is not recent or crosses a block: the caller reads it itself.
   */
  copyRecent(offset: number, length: number, out: Buffer, at: number): boolean {
    if (this.writtenPos - offset > SYNC_READ_WINDOW_BYTES || offset + length > this.writtenPos) return false;
    let block: CachedBlock | undefined = this.blocks[this.lastBlock];
    if (block === undefined || offset < block.start || offset + length > block.start + block.capacity || block.loading !== undefined) {
      block = undefined;
      for (let i = 0; i < this.blocks.length; i++) {
        const candidate = this.blocks[i]!;
        if (offset >= candidate.start && offset + length <= candidate.start + candidate.capacity && candidate.loading === undefined) {
          block = candidate;
          this.lastBlock = i;
          break;
        }
      }
    }
    if (block === undefined) {
      const segment = this.segmentAt(offset);
      if (!segment) return false;
      const start = Math.max(segment.start, offset - (offset % CACHE_BLOCK_BYTES));
      const capacity = Math.min(start - (start % CACHE_BLOCK_BYTES) + CACHE_BLOCK_BYTES, segment.start + this.segmentBytes) - start;
      if (offset + length > start + capacity) return false;
      if (this.blocks.length < CACHE_BLOCKS) {
        block = { start, capacity, valid: 0, used: 0, fd: segment.fd, buf: Buffer.allocUnsafe(CACHE_BLOCK_BYTES) };
        this.blocks.push(block);
        this.lastBlock = this.blocks.length - 1;
      } else {
        let victim = -1;
        for (let i = 0; i < this.blocks.length; i++) {
          if (this.blocks[i]!.loading === undefined && (victim < 0 || this.blocks[i]!.used < this.blocks[victim]!.used)) victim = i;
        }
        if (victim < 0) return false;
        block = this.blocks[victim]!;
        block.start = start;
        block.capacity = capacity;
        block.valid = 0;
        this.lastBlock = victim;
      }
      block.fd = segment.fd;
    }
    block.used = ++this.blockClock;
    if (offset + length > block.start + block.valid) {
      if (block.buf.length < block.capacity) {
        // Loaded through loadBlock with an exact-size buffer: give it room to grow.
        const grown = Buffer.allocUnsafe(CACHE_BLOCK_BYTES);
        block.buf.copy(grown, 0, 0, block.valid);
        block.buf = grown;
      }
      const end = Math.min(block.start + block.capacity, this.writtenPos);
      const got = readFullySync(block.fd, end - block.start - block.valid, block.start - this.segmentStartOf(block.start) + block.valid, block.buf.subarray(block.valid, end - block.start));
      block.valid += got.length;
      if (offset + length > block.start + block.valid) return false;
    }
    block.buf.copy(out, at, offset - block.start, offset - block.start + length);
    return true;
  }

  /** Copies `[offset, offset + length)` into `out` at `at` if a loaded block holds it (no I/O); false otherwise. */
  copyCached(offset: number, length: number, out: Buffer, at: number): boolean {
    for (let i = 0; i < this.blocks.length; i++) {
      const block = this.blocks[i]!;
      if (offset >= block.start && offset + length <= block.start + block.valid && block.loading === undefined) {
        block.used = ++this.blockClock;
        block.buf.copy(out, at, offset - block.start, offset - block.start + length);
        return true;
      }
    }
    return false;
  }

  /**
   * Loads the block holding `offset` through the thread pool (for bytes older than the sync-read window), so
   * the pulls of every queue whose records lie in it are served from one read. Resolves when it is loaded.
   */
  loadBlock(offset: number): Promise<void> {
    for (const block of this.blocks) {
      if (offset >= block.start && offset < block.start + block.capacity) {
        if (block.loading) return block.loading;
        if (offset < block.start + block.valid) return Promise.resolve();
      }
    }
    const segment = this.segmentAt(offset);
    if (!segment || offset >= this.writtenPos) return Promise.resolve();
    const start = Math.max(segment.start, offset - (offset % CACHE_BLOCK_BYTES));
    const capacity = Math.min(start - (start % CACHE_BLOCK_BYTES) + CACHE_BLOCK_BYTES, segment.start + this.segmentBytes) - start;
    let block: CachedBlock | undefined;
    if (this.blocks.length < CACHE_BLOCKS) {
      block = { start, capacity, valid: 0, used: 0, fd: segment.fd, buf: Buffer.alloc(0) };
      this.blocks.push(block);
    } else {
      for (const candidate of this.blocks) if (candidate.loading === undefined && (block === undefined || candidate.used < block.used)) block = candidate;
      if (block === undefined) return Promise.resolve(); // every block is loading: the caller reads directly
      block.start = start;
      block.capacity = capacity;
      block.valid = 0;
      block.fd = segment.fd;
    }
    const loading = block;
    loading.used = ++this.blockClock;
    loading.loading = this.read(start, Math.min(capacity, this.writtenPos - start)).then(
      (buf) => {
        loading.buf = buf;
        loading.valid = buf.length;
        loading.loading = undefined;
      },
      () => {
        loading.valid = 0;
        loading.loading = undefined; // the caller's own read reports the error
      },
    );
    return loading.loading;
  }

  /** Forgets the cached blocks (the log was cut back, or a segment went away). */
  private dropBlocks(): void {
    this.blocks = [];
    this.lastBlock = 0;
  }

  private blocks: CachedBlock[] = [];
  private lastBlock = 0;
  private blockClock = 0;

  /** Reads `length` bytes at `offset`; the range must lie inside one segment. */
  async read(offset: number, length: number): Promise<Buffer> {
    const segment = this.segmentAt(offset);
    if (!segment) return Buffer.alloc(0);
    const within = offset - segment.start;
    const bytes = Math.max(0, Math.min(length, segment.size - within));
    // The tail (what consumers usually read) is in the page cache: copy it synchronously.
    if (this.writtenPos - offset <= SYNC_READ_WINDOW_BYTES) return readFullySync(segment.fd, bytes, within);
    return readSegment(segment, bytes, within);
  }

  /** Size of the segment file that holds `offset` (0 if none). */
  segmentSizeAt(offset: number): number {
    return this.segmentAt(offset)?.size ?? 0;
  }

  /** Cuts the log back to `offset`: later segments are removed, the one containing it is shortened. */
  async truncate(offset: number): Promise<void> {
    this.dropBlocks();
    while (this.segments.length > 0 && this.segments.at(-1)!.start > offset) {
      const segment = this.segments.pop()!;
      retireSegment(segment);
      await rm(join(this.dir, segmentFileName(segment.start)), { force: true });
    }
    const last = this.segments.at(-1);
    if (last && last.start + last.size > offset) {
      const handle = await open(join(this.dir, segmentFileName(last.start)), 'r+');
      try {
        await handle.truncate(offset - last.start);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      last.size = offset - last.start;
    }
    if (last && offset === last.start && last.size === 0 && this.segments.length > 1) {
      this.segments.pop();
      retireSegment(last);
      await rm(join(this.dir, segmentFileName(last.start)), { force: true });
    }
    this.reservePos = this.writtenPos = offset;
  }

  /** Deletes the oldest segment if it ends at or below `safeOffset`; returns its start or undefined. */
  async deleteOldestSegment(safeOffset: number): Promise<number | undefined> {
    const oldest = this.segments[0];
    if (!oldest || this.segments.length < 2 || oldest.start + this.segmentBytes > safeOffset) return undefined;
    this.segments.shift();
    this.dropBlocks();
    retireSegment(oldest);
    await rm(join(this.dir, segmentFileName(oldest.start)), { force: true });
    return oldest.start;
  }

  /** Modification time (ms) of the oldest segment, for age-based retention. */
  async oldestSegmentMtimeMs(): Promise<number | undefined> {
    const oldest = this.segments[0];
    if (!oldest) return undefined;
    return (await stat(join(this.dir, segmentFileName(oldest.start)))).mtimeMs;
  }

  close(): void {
    this.dropBlocks();
    for (const segment of this.segments) retireSegment(segment);
    this.segments = [];
  }
}
