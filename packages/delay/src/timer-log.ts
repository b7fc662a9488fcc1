import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { ENTRY_BYTES, ENTRY_MAGIC, readEntry, writeEntry } from './timer-layout.js';
import type { TimerEntry } from './timer-layout.js';

const BLOCK_BYTES = 64 * 1024;
const CACHED_BLOCKS = 32;

/**
 * The append-only timer log. Appends are buffered and written with one write per flush(); reads go
 * through a small block cache (entries of one slot are usually appended close together).
 */
export class TimerLog {
  private pending: Buffer[] = [];
  private pendingStart: number;
  private readonly blocks = new Map<number, Buffer>();
  /** End of the log, including buffered entries not written yet. */
  end: number;

  private constructor(private readonly fd: number, size: number) {
    this.end = size;
    this.pendingStart = size;
  }

  static open(path: string): TimerLog {
    closeSync(openSync(path, 'a+'));
    const fd = openSync(path, 'r+');
    let size = fstatSync(fd).size;
    if (size < ENTRY_BYTES) {
      const header = Buffer.alloc(ENTRY_BYTES);
      header.writeUInt16BE(ENTRY_MAGIC, 38);
      ftruncateSync(fd, 0);
      writeSync(fd, header, 0, ENTRY_BYTES, 0);
      size = ENTRY_BYTES;
    }
    // A torn last entry (partial write) is cut.
    const whole = size - (size % ENTRY_BYTES);
    if (whole !== size) ftruncateSync(fd, whole);
    return new TimerLog(fd, whole);
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

  /** Writes the buffered entries (to the OS: they survive a process crash). */
  flush(): void {
    if (this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    let at = 0;
    while (at < data.length) at += writeSync(this.fd, data, at, data.length - at, this.pendingStart + at);
    // Cached blocks overlapping what was just written are stale.
    const firstBlock = Math.floor(this.pendingStart / BLOCK_BYTES);
    const lastBlock = Math.floor((this.pendingStart + data.length - 1) / BLOCK_BYTES);
    for (let block = firstBlock; block <= lastBlock; block++) this.blocks.delete(block);
    this.pendingStart += data.length;
    this.pending = [];
  }

  /** Reads the entry at `pos` (flushing first if it is still buffered). */
  read(pos: number): TimerEntry | undefined {
    if (pos >= this.pendingStart) this.flush();
    if (pos + ENTRY_BYTES > this.end) return undefined;
    const block = Math.floor(pos / BLOCK_BYTES);
    let buf = this.blocks.get(block);
    if (buf === undefined || (pos % BLOCK_BYTES) + ENTRY_BYTES > buf.length) {
      const start = block * BLOCK_BYTES;
      const length = Math.min(BLOCK_BYTES + ENTRY_BYTES, this.end - start);
      buf = Buffer.allocUnsafe(length);
      let at = 0;
      while (at < length) {
        const n = readSync(this.fd, buf, at, length - at, start + at);
        if (n === 0) break;
        at += n;
      }
      buf = buf.subarray(0, at);
      this.blocks.set(block, buf);
      if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    }
    const offset = pos % BLOCK_BYTES;
    if (offset + ENTRY_BYTES > buf.length) return undefined;
    return readEntry(buf, offset, pos);
  }

  /** Cuts the log at `pos` (recovery of a torn tail). */
  truncate(pos: number): void {
    this.flush();
    ftruncateSync(this.fd, pos);
    this.end = pos;
    this.pendingStart = pos;
    this.blocks.clear();
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
