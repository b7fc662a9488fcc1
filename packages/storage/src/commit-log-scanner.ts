import type { RecordSections } from '@litemq/protocol';
import { ProtocolError, RecordField, emptySections, readRecordSections, readU64, verifyStoredRecordCrc } from '@litemq/protocol';
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
export async function scanCommitLog(log: CommitLog, from: number, visitor: ScanVisitor, verifyCrc = true): Promise<ScanResult> {
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
    while (at < chunk.length) {
      const remaining = chunk.length - at;
      if (remaining < 12) break;
      const size = chunk.readUInt32BE(at);
      if (chunk.readUInt16BE(at + RecordField.MAGIC) === END_OF_SEGMENT_MAGIC && pos + at + size === segmentStart + log.segmentBytes) {
        pos = segmentStart + log.segmentBytes;
        rolled = true;
        break;
      }
      if (size > remaining && size <= segmentEnd - (pos + at)) break; // record continues past this chunk: refill
      try {
        readRecordSections(chunk, at, chunk.length, sections, Number.MAX_SAFE_INTEGER);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        result.end = pos + at;
        result.torn = true;
        return result;
      }
      const offset = pos + at;
      let problem: string | undefined;
      if (verifyCrc) {
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
    if (at === 0 && chunk.length > 0) {
      // Not even one record fits the remaining bytes of the segment: torn tail.
      result.end = pos;
      result.torn = true;
      return result;
    }
    pos += at;
    result.end = pos;
  }
  result.end = pos;
  return result;
}
