import type { ReceivedMessage } from './message.js';
import { decodeRecord } from './record-decode.js';
import type { RecordSections } from './record-sections.js';
import { emptySections, readRecordSections } from './record-sections.js';

/** A batch is records laid end to end. Concatenation is all it takes to build one. */
export function concatRecords(records: readonly Buffer[]): Buffer {
  return Buffer.concat(records);
}

/**
 * Walks every record of a batch, validating each one's structure before `visit` sees it. Throws
 * RECORD_MALFORMED on the first bad record; returns how many records there were. The sections object
 * passed to `visit` is reused between calls.
 */
export function forEachRecord(
  buf: Buffer,
  visit: (offset: number, sections: RecordSections) => void,
  maxBodyBytes?: number,
): number {
  const sections = emptySections();
  let offset = 0;
  let count = 0;
  while (offset < buf.length) {
    readRecordSections(buf, offset, buf.length, sections, maxBodyBytes);
    visit(offset, sections);
    offset += sections.totalSize;
    count++;
  }
  return count;
}

export function decodeRecords(buf: Buffer): ReceivedMessage[] {
  const messages: ReceivedMessage[] = [];
  forEachRecord(buf, (offset, sections) => messages.push(decodeRecord(buf, offset, offset + sections.totalSize)));
  return messages;
}
