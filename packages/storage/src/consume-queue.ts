import { openSync } from 'node:fs';
import { mkdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { SegmentFile } from './segment-file.js';
import { readSegment, retireSegment } from './segment-file.js';
import { readU64, writeU64 } from '@litemq/protocol';
import { listSegmentStarts, segmentFileName } from './file-names.js';
import { SYNC_READ_WINDOW_BYTES, readFullySync, syncData, writeFullySync } from './fs-io.js';

/** One entry: [commitLogOffset u64][size u32][tagHash u64]. A size of 0 marks a hole (a record lost to corruption). */
export const CQ_ENTRY_BYTES = 20;

interface QueueSegment extends SegmentFile {
  start: number;
  entries: number;
  dirty: boolean;
}

/**
 * The index of one topic queue: entry N points at the N-th message of the queue in the CommitLog.
 * Entries are staged by dispatch and written with one synchronous write per append batch (`commit`), before
 * the batch is acknowledged; `maxOffset` only covers written entries, so readers never see one early.
 */
export class ConsumeQueue {
  private segments: QueueSegment[] = [];
  private staged = Buffer.allocUnsafe(256 * CQ_ENTRY_BYTES);
  private stagedCount = 0;
  /** First readable logical offset. */
  minOffset = 0;
  /** Entries below are written to the OS and readable. */
  maxOffset = 0;
  /** Called after new entries become readable (long-polling consumers wake up on it). */
  onWritten: ((queue: ConsumeQueue) => void) | undefined;

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly queueId: number,
    readonly entriesPerSegment: number,
  ) {}

  static async open(dir: string, topic: string, queueId: number, entriesPerSegment: number): Promise<ConsumeQueue> {
    await mkdir(dir, { recursive: true });
    const queue = new ConsumeQueue(dir, topic, queueId, entriesPerSegment);
    for (const start of await listSegmentStarts(dir)) {
      const path = join(dir, segmentFileName(start));
      const entries = Math.min(entriesPerSegment, Math.floor((await stat(path)).size / CQ_ENTRY_BYTES));
      queue.segments.push({ start, fd: openSync(path, 'r+'), entries, dirty: false, readers: 0, retired: false });
    }
    // A segment that is not full yet must be the last one; anything after a short segment is unusable.
    for (let i = 0; i < queue.segments.length - 1; i++) {
      if (queue.segments[i]!.entries < entriesPerSegment || queue.segments[i + 1]!.start !== queue.segments[i]!.start + entriesPerSegment) {
        await queue.dropSegmentsFrom(i + 1);
        break;
      }
    }
    const first = queue.segments[0];
    const last = queue.segments.at(-1);
    queue.minOffset = first ? first.start : 0;
    queue.maxOffset = last ? last.start + last.entries : 0;
    return queue;
  }

  /** A new, empty queue; its directory must exist. */
  static createEmpty(dir: string, topic: string, queueId: number, entriesPerSegment: number): ConsumeQueue {
    return new ConsumeQueue(dir, topic, queueId, entriesPerSegment);
  }

  /** Starts an empty queue at `offset` (a queue rebuilt after its oldest records were deleted). */
  startAt(offset: number): void {
    if (this.segments.length === 0 && this.stagedCount === 0) this.minOffset = this.maxOffset = offset;
  }

  /** Logical offset the next dispatched entry will get. */
  get nextOffset(): number {
    return this.maxOffset + this.stagedCount;
  }

  /**
   * Stages the entry for `queueOffset`. Entries already present are ignored (re-dispatch after a
   * restart); a gap is filled with holes so offsets stay aligned with the records' queue offsets.
   */
  put(queueOffset: number, commitLogOffset: number, size: number, tagHash: number): void {
    if (queueOffset < this.nextOffset) return;
    while (this.nextOffset < queueOffset) this.stage(0, 0, 0);
    this.stage(commitLogOffset, size, tagHash);
    // Bounded staging when recovery re-dispatches a long log; the append path commits after every batch.
    if (this.stagedCount >= 8192) this.commit();
  }

  /**
   * Makes `offset` the next offset handed out, staging holes for the offsets skipped (recovery: offsets
   * once given to records that are now unreadable must never be given to new records).
   */
  skipTo(offset: number): void {
    if (offset <= this.nextOffset) return;
    if (this.segments.length === 0 && this.stagedCount === 0) {
      this.minOffset = this.maxOffset = offset;
      return;
    }
    while (this.nextOffset < offset) this.stage(0, 0, 0);
    this.commit();
  }

  private stage(commitLogOffset: number, size: number, tagHash: number): void {
    if ((this.stagedCount + 1) * CQ_ENTRY_BYTES > this.staged.length) {
      const bigger = Buffer.allocUnsafe(this.staged.length * 2);
      this.staged.copy(bigger, 0, 0, this.stagedCount * CQ_ENTRY_BYTES);
      this.staged = bigger;
    }
    const at = this.stagedCount * CQ_ENTRY_BYTES;
    writeU64(this.staged, at, commitLogOffset);
    this.staged.writeUInt32BE(size, at + 8);
    writeU64(this.staged, at + 12, tagHash);
    this.stagedCount++;
  }

  private segmentFor(offset: number): QueueSegment {
    const start = offset - (offset % this.entriesPerSegment);
    const last = this.segments.at(-1);
    if (last && last.start === start) return last;
    const segment: QueueSegment = { start, fd: openSync(join(this.dir, segmentFileName(start)), 'w+'), entries: 0, dirty: true, readers: 0, retired: false };
    this.segments.push(segment);
    if (this.segments.length === 1) this.minOffset = start;
    return segment;
  }

  /**
   * Writes the staged entries (one synchronous write per segment touched: a page-cache copy of a few
   * hundred bytes) and makes them readable. The append path calls it before acknowledging, so a
   * message is readable as soon as its send is acknowledged.
   */
  commit(): void {
    if (this.stagedCount === 0) return;
    const count = this.stagedCount;
    let done = 0;
    while (done < count) {
      const offset = this.maxOffset;
      const segment = this.segmentFor(offset);
      const within = offset - segment.start;
      const n = Math.min(count - done, this.entriesPerSegment - within);
      writeFullySync(segment.fd, [this.staged.subarray(done * CQ_ENTRY_BYTES, (done + n) * CQ_ENTRY_BYTES)], within * CQ_ENTRY_BYTES);
      segment.entries = within + n;
      segment.dirty = true;
      this.maxOffset += n;
      done += n;
    }
    this.stagedCount = 0;
    this.onWritten?.(this);
  }

  /** Kept for callers that want every staged entry written. */
  async drain(): Promise<void> {
    this.commit();
  }

  async sync(): Promise<void> {
    await this.drain();
    for (const segment of this.segments) {
      if (!segment.dirty) continue;
      segment.dirty = false;
      await syncData(segment.fd);
    }
  }

  /** Raw entries [from, from + count) clipped to what is readable; may return fewer at a segment end. */
  async readEntries(from: number, count: number): Promise<Buffer> {
    if (from < this.minOffset || from >= this.maxOffset) return Buffer.alloc(0);
    const first = this.segments[0]!;
    const segment = this.segments[Math.floor((from - first.start) / this.entriesPerSegment)];
    if (!segment || from < segment.start || from >= segment.start + segment.entries) return Buffer.alloc(0);
    const n = Math.min(count, segment.start + segment.entries - from, this.maxOffset - from);
    if ((this.maxOffset - from) * CQ_ENTRY_BYTES <= SYNC_READ_WINDOW_BYTES) return readFullySync(segment.fd, n * CQ_ENTRY_BYTES, (from - segment.start) * CQ_ENTRY_BYTES);
    return readSegment(segment, n * CQ_ENTRY_BYTES, (from - segment.start) * CQ_ENTRY_BYTES);
  }

  /** The last readable entry's commit-log offset and size, or undefined when empty. */
  async lastEntry(): Promise<{ offset: number; commitLogOffset: number; size: number } | undefined> {
    for (let offset = this.maxOffset - 1; offset >= this.minOffset; offset--) {
      const entry = await this.readEntries(offset, 1);
      if (entry.length < CQ_ENTRY_BYTES) return undefined;
      const size = entry.readUInt32BE(8);
      if (size > 0) return { offset, commitLogOffset: readU64(entry, 0), size };
    }
    return undefined;
  }

  /** Drops entries at and after `offset` (recovery: entries beyond the log end or a stale tail). */
  async truncateTo(offset: number): Promise<void> {
    await this.drain();
    this.stagedCount = 0;
    if (offset >= this.maxOffset) return;
    let keep = this.segments.findIndex((segment) => segment.start + this.entriesPerSegment > offset);
    if (keep === -1) keep = this.segments.length;
    if (keep < this.segments.length && this.segments[keep]!.start >= offset) {
      await this.dropSegmentsFrom(keep);
    } else {
      await this.dropSegmentsFrom(keep + 1);
      const segment = this.segments[keep];
      if (segment) {
        segment.entries = offset - segment.start;
        await truncate(join(this.dir, segmentFileName(segment.start)), segment.entries * CQ_ENTRY_BYTES);
      }
    }
    this.maxOffset = Math.max(offset, this.minOffset);
    if (this.segments.length === 0) this.minOffset = this.maxOffset = offset;
  }

  private async dropSegmentsFrom(index: number): Promise<void> {
    for (const segment of this.segments.splice(index)) {
      retireSegment(segment);
      await rm(join(this.dir, segmentFileName(segment.start)), { force: true });
    }
  }

  /**
   * Retention: deletes whole segments whose entries all point below `commitLogMin`, then advances
   * minOffset past entries that still do. Returns how many segments were deleted.
   */
  async deleteBelow(commitLogMin: number): Promise<number> {
    let deleted = 0;
    while (this.segments.length > 1) {
      const segment = this.segments[0]!;
      const lastEntry = await this.readEntries(segment.start + segment.entries - 1, 1);
      if (lastEntry.length < CQ_ENTRY_BYTES || readU64(lastEntry, 0) >= commitLogMin) break;
      this.segments.shift();
      retireSegment(segment);
      await rm(join(this.dir, segmentFileName(segment.start)), { force: true });
      deleted++;
    }
    if (this.segments.length > 0) this.minOffset = Math.max(this.minOffset, this.segments[0]!.start);
    while (this.minOffset < this.maxOffset) {
      const entry = await this.readEntries(this.minOffset, 1);
      if (entry.length < CQ_ENTRY_BYTES || readU64(entry, 0) >= commitLogMin) break;
      this.minOffset++;
    }
    return deleted;
  }

  close(): void {
    for (const segment of this.segments) retireSegment(segment);
    this.segments = [];
  }
}
