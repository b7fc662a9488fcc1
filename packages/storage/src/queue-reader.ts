import type { Logger } from 'pino';
import { ProtocolError, RecordField, emptySections, readRecordSections, readU64, verifyStoredRecordCrc } from '@litemq/protocol';
import type { CommitLog } from './commit-log.js';
import { CACHE_BLOCK_BYTES } from './commit-log.js';
import type { ConsumeQueue } from './consume-queue.js';
import { CQ_ENTRY_BYTES } from './consume-queue.js';

export type ReadStatus = 'FOUND' | 'NO_MATCHED_MESSAGE' | 'NO_NEW_MESSAGE' | 'OFFSET_TOO_SMALL' | 'OFFSET_OVERFLOW' | 'NO_QUEUE';

export interface ReadOptions {
  /** Most records to return. Default 32. */
  maxCount?: number;
  /** Stop adding records once this many bytes are collected (at least one record is always returned). Default 4 MiB. */
  maxBytes?: number;
  /** Only records whose tag hash is in this set (see `tagHash` in @litemq/protocol). */
  tagHashes?: ReadonlySet<number>;
}

export interface ReadResult {
  status: ReadStatus;
  /** The matching records, concatenated exactly as stored. */
  records: Buffer;
  count: number;
  /** Offset to read from next (past filtered-out and skipped entries too). */
  nextOffset: number;
  minOffset: number;
  maxOffset: number;
}

interface Range {
  start: number;
  bytes: number;
  /** Entry sizes in this range, in order, to verify each record. */
  sizes: number[];
}

/**
 * Records of one queue are interleaved with other queues' records in the log, so a pull of 256 records can be
 * 256 separate ranges. Ranges of recent bytes (in the page cache) whose gaps are at most this large are read
 * with one synchronous positional read of the whole span into a reused scratch buffer: copying a few KiB of gap
 * is cheaper than a syscall per record.
 */
const MAX_MERGE_GAP_BYTES = 16 * 1024;
const MAX_SPAN_BYTES = 8 * 1024 * 1024;
/** Gap bytes read along per call, at most: bounds the scratch buffer at the pull size plus this. */
const MAX_GAP_TOTAL_BYTES = 8 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(0);

/**
 * Copies every range, back to back, into one new buffer of `total` bytes through the commit log's block cache
 * (see CommitLog.copyRecent): no scratch buffer, no view per record, no concat. Undefined when the first range
 * is not recent; a range the cache cannot serve (it crosses a block) is read directly into place.
 */
function copyRecentRanges(log: CommitLog, ranges: readonly Range[], total: number): Buffer | undefined {
  if (ranges.length === 0 || !log.isRecent(ranges[0]!.start)) return undefined;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const range of ranges) {
    if (!log.copyRecent(range.start, range.bytes, out, at)) {
      const got = log.readRecentSync(range.start, range.bytes, out.subarray(at, at + range.bytes));
      // Short read (the log was cut back): keep only whole ranges before it.
      if (got.length < range.bytes) return undefined;
    }
    at += range.bytes;
  }
  return out;
}

/**
 * Ranges older than the sync-read window: load the log blocks holding them through the thread pool (one read per
 * block, shared with the other queues' pulls), then copy every range into one buffer. A range no block holds
 * (evicted meanwhile, or crossing a block) is read on its own.
 */
/** Above this many ranges in one pull, older bytes are read through shared log blocks (see readQueue). */
const OLDER_RANGES_VIA_BLOCKS = 16;

async function copyOlderRanges(log: CommitLog, ranges: readonly Range[], total: number): Promise<Buffer | undefined> {
  const loads: Promise<void>[] = [];
  let lastBlock = -1;
  for (const range of ranges) {
    const block = Math.floor(range.start / CACHE_BLOCK_BYTES);
    if (block !== lastBlock) loads.push(log.loadBlock(range.start));
    lastBlock = block;
  }
  await Promise.all(loads);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const range of ranges) {
    if (!log.copyCached(range.start, range.bytes, out, at)) {
      const chunk = await log.read(range.start, range.bytes);
      if (chunk.length < range.bytes) return undefined; // cut back meanwhile: the general path sorts it out
      chunk.copy(out, at);
    }
    at += range.bytes;
  }
  return out;
}

/**
 * Reads every range synchronously when all of them are recent (see CommitLog.isRecent), merging close ranges
 * into one read each. The chunks are views of the shared scratch buffer: the caller copies them out before it
 * yields (nothing awaits in between). Undefined when the first range is not recent (then all are read async).
 */
function readRecentRanges(log: CommitLog, ranges: readonly Range[]): Buffer[] | undefined {
  if (ranges.length === 0 || !log.isRecent(ranges[0]!.start)) return undefined;
  const segmentBytes = log.segmentBytes;
  // Lay out the spans first, so the scratch is sized once and chunks of earlier spans stay valid.
  const spanOf: number[] = [];
  const spans: Array<{ start: number; end: number; at: number }> = [];
  let total = 0;
  let gaps = 0;
  for (const range of ranges) {
    const last = spans.at(-1);
    const end = range.start + range.bytes;
    if (
      last &&
      range.start >= last.end &&
      range.start - last.end <= MAX_MERGE_GAP_BYTES &&
      gaps + (range.start - last.end) <= MAX_GAP_TOTAL_BYTES &&
      end - last.start <= MAX_SPAN_BYTES &&
      Math.floor(last.start / segmentBytes) === Math.floor(range.start / segmentBytes)
    ) {
      gaps += range.start - last.end;
      total += end - last.end;
      last.end = end;
    } else {
      spans.push({ start: range.start, end, at: total });
      total += range.bytes;
    }
    spanOf.push(spans.length - 1);
  }
  if (scratch.length < total) scratch = Buffer.allocUnsafe(Math.max(total, Math.min(2 * scratch.length, MAX_SPAN_BYTES)));
  const views: Buffer[] = [];
  for (const span of spans) views.push(log.readRecentSync(span.start, span.end - span.start, scratch.subarray(span.at, span.at + span.end - span.start)));
  return ranges.map((range, i) => {
    const span = spans[spanOf[i]!]!;
    const view = views[spanOf[i]!]!;
    const from = range.start - span.start;
    return view.subarray(Math.min(from, view.length), Math.min(from + range.bytes, view.length));
  });
}

/**
 * Reads a queue: one positional read of its entries, then one positional read per contiguous run of
 * records in the log. Records are returned as raw bytes; nothing is decoded or re-encoded.
 */
export async function readQueue(
  log: CommitLog,
  queue: ConsumeQueue,
  offset: number,
  options: ReadOptions,
  /** Records stored below this commit-log offset get their CRCs checked (see MessageStoreOptions.trustOwnWrites). */
  verifyBelow: number,
  logger: Logger,
): Promise<ReadResult> {
  const maxCount = options.maxCount ?? 32;
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const empty = (status: ReadStatus, nextOffset: number): ReadResult => ({
    status, records: Buffer.alloc(0), count: 0, nextOffset, minOffset: queue.minOffset, maxOffset: queue.maxOffset,
  });
  if (offset < queue.minOffset) return empty('OFFSET_TOO_SMALL', queue.minOffset);
  if (offset === queue.maxOffset) return empty('NO_NEW_MESSAGE', offset);
  if (offset > queue.maxOffset) return empty('OFFSET_OVERFLOW', queue.maxOffset);

  const entries = await queue.readEntries(offset, maxCount);
  const logMin = log.minOffset;
  const ranges: Range[] = [];
  let bytes = 0;
  let consumed = 0;
  const segmentBytes = log.segmentBytes;
  for (let at = 0; at < entries.length; at += CQ_ENTRY_BYTES) {
    const commitLogOffset = readU64(entries, at);
    const size = entries.readUInt32BE(at + 8);
    if (size > 0 && bytes > 0 && bytes + size > maxBytes) break;
    consumed++;
    if (size === 0 || commitLogOffset < logMin) continue; // a hole, or a record already deleted by retention
    if (options.tagHashes && !options.tagHashes.has(readU64(entries, at + 12))) continue;
    const last = ranges.at(-1);
    const sameSegment = last && Math.floor(last.start / segmentBytes) === Math.floor(commitLogOffset / segmentBytes);
    if (last && sameSegment && last.start + last.bytes === commitLogOffset) {
      last.bytes += size;
      last.sizes.push(size);
    } else {
      ranges.push({ start: commitLogOffset, bytes: size, sizes: [size] });
    }
    bytes += size;
  }
  const nextOffset = offset + consumed;
  if (ranges.length === 0) return empty(consumed > 0 ? 'NO_MATCHED_MESSAGE' : 'NO_NEW_MESSAGE', nextOffset);

  // Older bytes: shared 1 MiB block loads pay off when a pull is many small runs (queues interleaved record by
  // record, as concurrent producers write them); a few long runs are cheaper to read exactly.
  const direct = copyRecentRanges(log, ranges, bytes) ?? (ranges.length > OLDER_RANGES_VIA_BLOCKS ? await copyOlderRanges(log, ranges, bytes) : undefined);
  const chunks = direct ? [direct] : readRecentRanges(log, ranges) ?? (await Promise.all(ranges.map((range) => log.read(range.start, range.bytes))));
  if (direct) {
    // One buffer holding every range back to back: verify it in place, with each record's own log offset.
    let count = 0;
    let at = 0;
    let good: Buffer[] | undefined;
    const sections = emptySections();
    for (const range of ranges) {
      let logOffset = range.start;
      for (const size of range.sizes) {
        let sound = true;
        if (logOffset < verifyBelow) {
          try {
            readRecordSections(direct, at, at + size, sections, Number.MAX_SAFE_INTEGER);
            verifyStoredRecordCrc(direct, at, sections);
            sound = sections.totalSize === size && readU64(direct, at + RecordField.COMMIT_LOG_OFFSET) === logOffset;
          } catch (error) {
            if (!(error instanceof ProtocolError)) throw error;
            sound = false;
          }
        }
        if (sound) {
          count++;
          good?.push(direct.subarray(at, at + size));
        } else {
          good ??= [direct.subarray(0, at)];
          logger.error({ topic: queue.topic, queueId: queue.queueId, commitLogOffset: logOffset }, 'corrupt record skipped on read');
        }
        at += size;
        logOffset += size;
      }
    }
    return {
      status: count > 0 ? 'FOUND' : 'NO_MATCHED_MESSAGE',
      records: good ? Buffer.concat(good) : direct,
      count,
      nextOffset,
      minOffset: queue.minOffset,
      maxOffset: queue.maxOffset,
    };
  }
  const viaScratch = chunks.length > 0 && chunks[0]!.buffer === scratch.buffer;
  let count = 0;
  let clean = true;
  const good: Buffer[] = [];
  const sections = emptySections();
  for (let r = 0; r < ranges.length; r++) {
    const chunk = chunks[r]!;
    let at = 0;
    for (const size of ranges[r]!.sizes) {
      let sound = at + size <= chunk.length;
      if (sound && ranges[r]!.start + at < verifyBelow) {
        try {
          readRecordSections(chunk, at, at + size, sections, Number.MAX_SAFE_INTEGER);
          verifyStoredRecordCrc(chunk, at, sections);
          sound = sections.totalSize === size && readU64(chunk, at + RecordField.COMMIT_LOG_OFFSET) === ranges[r]!.start + at;
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          sound = false;
        }
      }
      if (sound) {
        count++;
        if (!clean) good.push(chunk.subarray(at, at + size));
      } else {
        if (clean) {
          // First corrupt record: from here on collect the sound ones explicitly (the common path allocates nothing per record).
          clean = false;
          for (let earlier = 0; earlier < r; earlier++) good.push(chunks[earlier]!);
          if (at > 0) good.push(chunk.subarray(0, at));
        }
        logger.error({ topic: queue.topic, queueId: queue.queueId, commitLogOffset: ranges[r]!.start + at }, 'corrupt record skipped on read');
      }
      at += size;
    }
  }
  // Views of the scratch buffer are copied out (concat always copies) before anything else can reuse it.
  const records = clean && chunks.length === 1 && !viaScratch ? chunks[0]! : Buffer.concat(clean ? chunks : good);
  return {
    status: count > 0 ? 'FOUND' : 'NO_MATCHED_MESSAGE',
    records,
    count,
    nextOffset,
    minOffset: queue.minOffset,
    maxOffset: queue.maxOffset,
  };
}
