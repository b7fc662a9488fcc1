import type { RecordSections } from '@litemq/protocol';
import { ProtocolError, RECORD_HEADER_BYTES, RECORD_MAGIC, RECORD_VERSION, RecordField, emptySections, readRecordSections, readU64, verifyStoredRecordCrc } from '@litemq/protocol';
import type { CommitLog } from './commit-log.js';
import { END_OF_SEGMENT_MAGIC } from './commit-log.js';

const CHUNK_BYTES = 8 * 1024 * 1024;

export type ScanVerdict = 'ok' | 'corrupt';

export interface ScanVisitor {
  /** A sound record at `offset` (its bytes are `buf[at, at + sections.totalSize)`). */
  record(buf: Buffer, at: number, offset: number, sections: RecordSections): void;
  /** A record whose structure holds but whose CRC or stored offset does not: skipped, never served. */
  corrupt?(offset: number, size: number, reason: string): void;
}

export interface ScanResult {
  /** Where the valid log ends: the first byte that is not a sound record, padding or segment end. */
  end: number;
  /** True when the scan stopped at bytes that are not a record (a torn tail) before the files' end. */
  torn: boolean;
  records: number;
  corrupt: number;
}

/**
 * Walks records from `from` (a record boundary) to the end of the written files with large sequential
 * reads, verifying each one's structure, CRCs and stored offset. Follows end-of-segment markers and
 * short segments into the next segment. Used by recovery and by anything that replays the log.
 */
/** True when a sound record starts at `offset`: structure, both CRCs, and its stored offset is `offset`. */
async function soundRecordAt(log: CommitLog, offset: number, sections: RecordSections): Promise<boolean> {
  const head = await log.read(offset, RECORD_HEADER_BYTES);
  if (head.length < RECORD_HEADER_BYTES || readU64(head, RecordField.COMMIT_LOG_OFFSET) !== offset) return false;
  const size = head.readUInt32BE(RecordField.TOTAL_SIZE);
  if (size > log.segmentBytes) return false;
  const buf = await log.read(offset, size);
  try {
    readRecordSections(buf, 0, buf.length, sections, Number.MAX_SAFE_INTEGER);
    verifyStoredRecordCrc(buf, 0, sections);
    return sections.totalSize === buf.length;
  } catch (error) {
    if (error instanceof ProtocolError) return false;
    throw error;
  }
}

/**
 * After unreadable bytes at `from`: the offset of the next sound record in the log (this segment's
 * remaining bytes, then the following segments), or undefined when none follows (a torn tail). A record
 * only counts if its CRCs hold and it stores its own position, so a match cannot be chance.
 */
export async function findNextSoundRecord(log: CommitLog, from: number): Promise<number | undefined> {
  const sections = emptySections();
  for (const start of log.segmentStarts()) {
    const end = start + log.segmentSizeAt(start);
    let pos = Math.max(start, from + 1);
    while (pos + RECORD_HEADER_BYTES <= end) {
      const chunk = await log.read(pos, Math.min(CHUNK_BYTES, end - pos));
      const last = chunk.length - RECORD_HEADER_BYTES;
      for (let at = 0; at <= last; at++) {
        if (chunk.readUInt16BE(at + RecordField.MAGIC) !== RECORD_MAGIC || chunk[at + RecordField.VERSION] !== RECORD_VERSION) continue;
        if (readU64(chunk, at + RecordField.COMMIT_LOG_OFFSET) !== pos + at) continue;
        if (await soundRecordAt(log, pos + at, sections)) return pos + at;
      }
      pos += last + 1;
    }
  }
  return undefined;
}

/**
 * Walks records from `from` (a record boundary) to the end of the written files with large sequential
 * reads, verifying each one's structure, CRCs and stored offset. Follows end-of-segment markers and
 * short segments into the next segment. Bytes that are not a record are skipped (and counted corrupt)
 * when a sound record follows them; otherwise they are the torn tail and the scan ends there.
 * Used by recovery and by anything that replays the log.
 */
/**
 * `verifyCrcBelow`: CRCs are checked for records starting below this offset (default: all). Recovery's
 * second pass re-reads a range the first pass already verified and skips re-hashing it.
 */
export async function scanCommitLog(log: CommitLog, from: number, visitor: ScanVisitor, verifyCrcBelow = Number.MAX_SAFE_INTEGER): Promise<ScanResult> {
  const sections = emptySections();
  const result: ScanResult = { end: from, torn: false, records: 0, corrupt: 0 };
  const starts = log.segmentStarts();
  let pos = Math.max(from, log.minOffset);
  while (true) {
    const segmentStart = log.segmentStartOf(pos);
    const segmentEnd = segmentStart + log.segmentSizeAt(pos);
    const hasNext = starts.some((start) => start > segmentStart);
    if (pos >= segmentEnd) {
      if (!hasNext) break;
      pos = segmentStart + log.segmentBytes; // a short segment: the writer rolled before filling it
      continue;
    }
    const chunk = await log.read(pos, Math.min(CHUNK_BYTES, segmentEnd - pos));
    let at = 0;
    let rolled = false;
    let broken: number | undefined;
    while (at < chunk.length) {
      const remaining = chunk.length - at;
      if (remaining < 12) break;
      const size = chunk.readUInt32BE(at);
      if (chunk.readUInt16BE(at + RecordField.MAGIC) === END_OF_SEGMENT_MAGIC && pos + at + size === segmentStart + log.segmentBytes) {
        pos = segmentStart + log.segmentBytes;
        rolled = true;
        break;
      }
      if (size > remaining && size <= segmentEnd - (pos + at) && size <= CHUNK_BYTES && at > 0) break; // record continues past this chunk: refill
      try {
        readRecordSections(chunk, at, chunk.length, sections, Number.MAX_SAFE_INTEGER);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        broken = pos + at;
        break;
      }
      const offset = pos + at;
      let problem: string | undefined;
      if (pos + at < verifyCrcBelow) {
        try {
          verifyStoredRecordCrc(chunk, at, sections);
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          problem = error.message;
        }
      }
      if (!problem && readU64(chunk, at + RecordField.COMMIT_LOG_OFFSET) !== offset) problem = 'stored commit-log offset does not match its position';
      if (problem) {
        result.corrupt++;
        visitor.corrupt?.(offset, sections.totalSize, problem);
      } else {
        result.records++;
        visitor.record(chunk, at, offset, sections);
      }
      at += sections.totalSize;
    }
    if (rolled) continue;
    if (broken === undefined && at === 0 && chunk.length > 0) broken = pos; // not even one record fits the rest of the segment
    if (broken !== undefined) {
      const next = await findNextSoundRecord(log, broken);
      if (next === undefined) {
        result.end = broken;
        result.torn = true;
        return result;
      }
      result.corrupt++;
      visitor.corrupt?.(broken, next - broken, 'unreadable bytes before the next sound record: skipped');
      pos = result.end = next;
      continue;
    }
    pos += at;
    result.end = pos;
  }
  result.end = pos;
  return result;
}
