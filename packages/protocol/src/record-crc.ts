import { crc32Range } from './crc32-range.js';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { RecordField } from './record-layout.js';
import type { RecordSections } from './record-sections.js';

/**
 * The record CRC covers the fixed header after itself (which includes bodyCrc, and so the body) and
 * the trailing sections: every byte is protected, yet a store never re-hashes a 1 MiB body.
 */
export function computeRecordCrc(buf: Buffer, offset: number, sections: RecordSections): number {
  const headerCrc = crc32Range(buf, offset + RecordField.MAGIC, offset + RecordField.BODY);
  return crc32Range(buf, sections.bodyStart + sections.bodyLength, offset + sections.totalSize, headerCrc);
}

export function computeBodyCrc(buf: Buffer, sections: RecordSections): number {
  return crc32Range(buf, sections.bodyStart, sections.bodyStart + sections.bodyLength);
}

/** Throws RECORD_CRC_MISMATCH unless the body matches the bodyCrc the producer computed. */
export function verifyBodyCrc(buf: Buffer, offset: number, sections: RecordSections): void {
  const expected = buf.readUInt32BE(offset + RecordField.BODY_CRC);
  if (computeBodyCrc(buf, sections) !== expected) {
    throw new ProtocolError(ProtocolErrorCode.RECORD_CRC_MISMATCH, `record at byte ${offset}: body CRC mismatch`);
  }
}

/** Throws RECORD_CRC_MISMATCH unless both the record CRC (set at store time) and the body CRC match. */
export function verifyStoredRecordCrc(buf: Buffer, offset: number, sections: RecordSections): void {
  const expected = buf.readUInt32BE(offset + RecordField.RECORD_CRC);
  if (computeRecordCrc(buf, offset, sections) !== expected) {
    throw new ProtocolError(ProtocolErrorCode.RECORD_CRC_MISMATCH, `record at byte ${offset}: record CRC mismatch`);
  }
  verifyBodyCrc(buf, offset, sections);
}
