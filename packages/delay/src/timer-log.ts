import {
  closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ENTRY_BYTES, ENTRY_MAGIC, readEntry, writeEntry } from './timer-layout.js';
import type { TimerEntry } from './timer-layout.js';

const BLOCK_BYTES = 64 * 1024;
const CACHED_BLOCKS = 32;

interface Segment {
  /** Log position of the segment's first byte (its file name, 20 digits). */
  base: number;
  fd: number;
  /** Bytes written to the file. */
  size: number;
}

function segmentName(base: number): string {
  return String(base).padStart(20, '0');
}

/**
 * The append-only timer log, split into segment files of `segmentBytes` (a multiple of the entry size, so
 * an entry never spans two files) named by the log position of their first byte (`timerlog/00000000000000000000`, ...).
 * Positions are global and never reused; segments whose entries are all behind the persisted read position
 * are deleted by reclaim(). Appends are buffered and written with one write per segment per flush(); reads
 * go through a small block cache (entries of one slot are usually appended close together).
 */
export class TimerLog {
  private pending: Buffer[] = [];
  private pendingStart: number;
  private readonly blocks = new Map<number, Buffer>();
  /** Set by locate(): the buffer and offset holding the entry looked up. */
  hitBuf: Buffer = Buffer.alloc(0);
  hitOffset = 0;
  /** End of the log, including buffered entries not written yet. */
  end: number;

  private constructor(private readonly dir: string, readonly segmentBytes: number, private readonly segments: Segment[]) {
    const last = segments.at(-1)!;
    this.end = last.base + last.size;
    this.pendingStart = this.end;
  }

  /** Opens the log directory `path` (migrating a single-file log of an earlier version). */
  static open(path: string, segmentBytes: number): TimerLog {
    if (segmentBytes % ENTRY_BYTES !== 0) throw new RangeError(`timer log segment size ${segmentBytes} is not a multiple of ${ENTRY_BYTES}`);
    if (existsSync(path) && statSync(path).isFile()) migrateSingleFile(path, segmentBytes);
    mkdirSync(path, { recursive: true });
    const bases = readdirSync(path).filter((name) => /^\d{20}$/.test(name)).map(Number).sort((a, b) => a - b);
    const segments: Segment[] = [];
    for (const base of bases) {
      const fd = openSync(join(path, segmentName(base)), 'r+');
      segments.push({ base, fd, size: fstatSync(fd).size });
    }
    // Only the last segment can be partly written: a torn last entry is cut.
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const whole = Math.min(segmentBytes, segment.size - (segment.size % ENTRY_BYTES));
      if (whole !== segment.size) ftruncateSync(segment.fd, whole);
      segment.size = whole;
      if (i < segments.length - 1 && whole < segmentBytes) {
        // A later segment exists, so this one was full when it was left: a shorter file is damaged. Keep the
        // positions consistent by cutting the log here (recovery replays from the checkpoint and cuts torn tails).
        for (const later of segments.splice(i + 1)) {
          closeSync(later.fd);
          unlinkSync(join(path, segmentName(later.base)));
        }
        break;
      }
    }
    if (segments.length === 0) {
      const fd = openSync(join(path, segmentName(0)), 'w+');
      const header = Buffer.alloc(ENTRY_BYTES);
      header.writeUInt16BE(ENTRY_MAGIC, 38);
      writeSync(fd, header, 0, ENTRY_BYTES, 0);
      segments.push({ base: 0, fd, size: ENTRY_BYTES });
    }
    return new TimerLog(path, segmentBytes, segments);
  }

  /** Position of the first byte still on disk. */
  get start(): number {
    return this.segments[0]!.base;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Bytes on disk (written segments). */
  get diskBytes(): number {
    let bytes = 0;
    for (const segment of this.segments) bytes += segment.size;
    return bytes;
  }

  /** Buffers one entry; returns its position. */
  append(entry: Omit<TimerEntry, 'pos'>): number {
    const pos = this.end;
    const buf = Buffer.allocUnsafe(ENTRY_BYTES);
    writeEntry(buf, 0, entry);
    this.pending.push(buf);
    this.end += ENTRY_BYTES;
    return pos;
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  private segmentFor(pos: number): Segment | undefined {
    const segments = this.segments;
    const last = segments[segments.length - 1]!;
    if (pos >= last.base) return pos < last.base + this.segmentBytes ? last : undefined;
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segments[mid]!.base <= pos) lo = mid;
      else hi = mid - 1;
    }
    const segment = segments[lo]!;
    return pos >= segment.base && pos < segment.base + this.segmentBytes ? segment : undefined;
  }

  /** Writes the buffered entries (to the OS: they survive a process crash), one write per segment. */
  flush(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let at = 0;
    while (at < data.length) {
      const pos = this.pendingStart + at;
      let segment = this.segments[this.segments.length - 1]!;
      if (pos >= segment.base + this.segmentBytes) {
        const fd = openSync(join(this.dir, segmentName(pos)), 'w+');
        segment = { base: pos, fd, size: 0 };
        this.segments.push(segment);
      }
      const length = Math.min(data.length - at, segment.base + this.segmentBytes - pos);
      let written = 0;
      while (written < length) written += writeSync(segment.fd, data, at + written, length - written, pos - segment.base + written);
      segment.size = pos - segment.base + length;
      at += length;
    }
    // Cached blocks overlapping what was just written are stale.
    for (const [start, block] of this.blocks) {
      if (start + block.length > this.pendingStart) this.blocks.delete(start);
    }
    this.pendingStart += data.length;
    this.pending = [];
  }

  /**
   * Finds the entry at `pos` without allocating: on success `hitBuf`/`hitOffset` hold its bytes (valid until
   * the next log call). False when the position is not on disk (reclaimed, beyond the end) or not a valid entry.
   */
  locate(pos: number): boolean {
    if (pos >= this.pendingStart) this.flush();
    if (pos + ENTRY_BYTES > this.end) return false;
    const segment = this.segmentFor(pos);
    if (!segment) return false;
    const blockStart = segment.base + Math.floor((pos - segment.base) / BLOCK_BYTES) * BLOCK_BYTES;
    let buf = this.blocks.get(blockStart);
    if (buf === undefined || pos - blockStart + ENTRY_BYTES > buf.length) {
      const length = Math.min(BLOCK_BYTES + ENTRY_BYTES, segment.base + segment.size - blockStart);
      if (length <= 0) return false;
      buf = Buffer.allocUnsafe(length);
      let at = 0;
      while (at < length) {
        const n = readSync(segment.fd, buf, at, length - at, blockStart - segment.base + at);
        if (n === 0) break;
        at += n;
      }
      buf = buf.subarray(0, at);
      this.blocks.set(blockStart, buf);
      if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    }
    const offset = pos - blockStart;
    if (offset + ENTRY_BYTES > buf.length) return false;
    if (buf.readUInt16BE(offset + 38) !== ENTRY_MAGIC) return false;
    this.hitBuf = buf;
    this.hitOffset = offset;
    return true;
  }

  /** Reads the entry at `pos` (flushing first if it is still buffered). */
  read(pos: number): TimerEntry | undefined {
    if (!this.locate(pos)) return undefined;
    return readEntry(this.hitBuf, this.hitOffset, pos);
  }

  /** Cuts the log at `pos` (recovery of a torn tail). */
  truncate(pos: number): void {
    this.flush();
    while (this.segments.length > 1 && this.segments.at(-1)!.base >= pos) {
      const segment = this.segments.pop()!;
      closeSync(segment.fd);
      unlinkSync(join(this.dir, segmentName(segment.base)));
    }
    const last = this.segments.at(-1)!;
    const size = Math.max(0, Math.min(pos - last.base, last.size));
    ftruncateSync(last.fd, size);
    last.size = size;
    this.end = last.base + size;
    this.pendingStart = this.end;
    this.blocks.clear();
  }

  /**
   * Deletes the segments lying wholly before `before` (never the one being written). Returns the bytes freed.
   */
  reclaim(before: number): number {
    let freed = 0;
    while (this.segments.length > 1 && this.segments[0]!.base + this.segmentBytes <= before) {
      const segment = this.segments.shift()!;
      closeSync(segment.fd);
      unlinkSync(join(this.dir, segmentName(segment.base)));
      freed += segment.size;
      for (const start of this.blocks.keys()) if (start < segment.base + this.segmentBytes) this.blocks.delete(start);
    }
    return freed;
  }

  close(): void {
    this.flush();
    for (const segment of this.segments) closeSync(segment.fd);
  }
}

/** An earlier version kept the log in one file: split it into segments (positions are unchanged). */
function migrateSingleFile(path: string, segmentBytes: number): void {
  const legacy = `${path}.single`;
  renameSync(path, legacy);
  mkdirSync(path, { recursive: true });
  const from = openSync(legacy, 'r');
  const size = fstatSync(from).size;
  const buf = Buffer.allocUnsafe(Math.min(segmentBytes, 8 * 1024 * 1024));
  for (let base = 0; base < size || base === 0; base += segmentBytes) {
    const to = openSync(join(path, segmentName(base)), 'w');
    for (let at = base; at < Math.min(size, base + segmentBytes);) {
      const n = readSync(from, buf, 0, Math.min(buf.length, base + segmentBytes - at, size - at), at);
      if (n === 0) break;
      writeSync(to, buf, 0, n, at - base);
      at += n;
    }
    closeSync(to);
    if (size === 0) break;
  }
  closeSync(from);
  unlinkSync(legacy);
}
