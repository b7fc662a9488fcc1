import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { readU64, writeU64 } from '@litemq/protocol';
import { SLOT_BYTES } from './timer-layout.js';

/**
 * The wheel: a fixed-size file of `slots` slots, mirrored in one Buffer (its size never depends on how
 * many timers are pending). Changed slots are written back by flush() only, at checkpoints; between
 * checkpoints the timer log is replayed on recovery.
 */
export class TimerWheel {
  private readonly buf: Buffer;
  private readonly dirty = new Set<number>();

  private constructor(private readonly fd: number, readonly slots: number) {
    this.buf = Buffer.alloc(slots * SLOT_BYTES);
  }

  static open(path: string, slots: number): TimerWheel {
    const fd = openSync(path, 'a+');
    closeSync(fd);
    const rw = openSync(path, 'r+');
    const wheel = new TimerWheel(rw, slots);
    const size = fstatSync(rw).size;
    if (size !== slots * SLOT_BYTES) {
      // New wheel, or a wheel of another size (options changed): start empty; recovery replays the log.
      ftruncateSync(rw, 0);
      ftruncateSync(rw, slots * SLOT_BYTES);
      return wheel;
    }
    let at = 0;
    while (at < wheel.buf.length) at += readSync(rw, wheel.buf, at, wheel.buf.length - at, at);
    return wheel;
  }

  private index(tick: number): number {
    return (tick % this.slots) * SLOT_BYTES;
  }

  /** The slot of `tick`: its chain, or an empty slot when it holds another turn of the wheel. */
  get(tick: number): { firstPos: number; lastPos: number; count: number } {
    const at = this.index(tick);
    if (readU64(this.buf, at) !== tick + 1) return { firstPos: 0, lastPos: 0, count: 0 };
    return { firstPos: readU64(this.buf, at + 8), lastPos: readU64(this.buf, at + 16), count: this.buf.readUInt32BE(at + 24) };
  }

  /** Tick stored in the slot `tick` maps to (-1 when empty). */
  storedTick(tick: number): number {
    return readU64(this.buf, this.index(tick)) - 1;
  }

  /** Links the entry at `pos` as the new last entry of `tick`'s slot; returns the previous last position. */
  link(tick: number, pos: number): number {
    const at = this.index(tick);
    let prev = 0;
    if (readU64(this.buf, at) !== tick + 1) {
      writeU64(this.buf, at, tick + 1);
      writeU64(this.buf, at + 8, pos);
      this.buf.writeUInt32BE(1, at + 24);
    } else {
      prev = readU64(this.buf, at + 16);
      this.buf.writeUInt32BE(this.buf.readUInt32BE(at + 24) + 1, at + 24);
    }
    writeU64(this.buf, at + 16, pos);
    this.dirty.add(at);
    return prev;
  }

  /**
   * The oldest log position chained by the slots at indexes [from, from + count) that hold a tick at or after
   * `minTick` (Infinity when none).
   */
  minFirstPos(minTick: number, from: number, count: number): number {
    let min = Infinity;
    const buf = this.buf;
    for (let at = from * SLOT_BYTES, end = (from + count) * SLOT_BYTES; at < end; at += SLOT_BYTES) {
      const stored = readU64(buf, at);
      if (stored === 0 || stored - 1 < minTick) continue;
      const first = readU64(buf, at + 8);
      if (first < min) min = first;
    }
    return min;
  }

  /** Writes the changed slots back, coalescing adjacent ones. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const offsets = [...this.dirty].sort((a, b) => a - b);
    this.dirty.clear();
    let start = offsets[0]!;
    let end = start + SLOT_BYTES;
    const write = () => {
      let at = start;
      while (at < end) at += writeSync(this.fd, this.buf, at, end - at, at);
    };
    for (let i = 1; i < offsets.length; i++) {
      const offset = offsets[i]!;
      if (offset <= end + 4096) {
        end = offset + SLOT_BYTES;
      } else {
        write();
        start = offset;
        end = offset + SLOT_BYTES;
      }
    }
    write();
  }

  get bytes(): number {
    return this.buf.length;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
