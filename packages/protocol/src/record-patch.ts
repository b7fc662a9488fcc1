import { computeRecordCrc } from './record-crc.js';
import { RECORD_HEADER_BYTES, RecordField } from './record-layout.js';
import type { RecordSections } from './record-sections.js';
import { writeU64 } from './u64.js';

/**
 * Fills the store-owned fields of a record in place and seals it with the record CRC. `storeHost` is the
 * 18-byte encoded host (see host.ts), copied rather than re-encoded per record.
 */
export function patchStoredFields(
  buf: Buffer,
  offset: number,
  sections: RecordSections,
  queueOffset: number,
  commitLogOffset: number,
  storeTimestamp: number,
  storeHost: Buffer | undefined,
): void {
  if (!(offset >= 0 && offset + RECORD_HEADER_BYTES <= buf.length)) throw new RangeError(`record header at ${offset} is out of range for ${buf.length} bytes`);
  writeU64(buf, offset + RecordField.QUEUE_OFFSET, queueOffset);
  writeU64(buf, offset + RecordField.COMMIT_LOG_OFFSET, commitLogOffset);
  writeU64(buf, offset + RecordField.STORE_TIMESTAMP, storeTimestamp);
  // Byte loops instead of Buffer#copy / writeUInt32BE (a native call or argument checks per record for 18 and
  // 4 bytes); the header was range-checked above.
  if (storeHost) {
    const hostAt = offset + RecordField.STORE_HOST;
    for (let i = 0; i < storeHost.length; i++) buf[hostAt + i] = storeHost[i]!;
  }
  const crc = computeRecordCrc(buf, offset, sections);
  const crcAt = offset + RecordField.RECORD_CRC;
  buf[crcAt] = crc >>> 24;
  buf[crcAt + 1] = crc >>> 16;
  buf[crcAt + 2] = crc >>> 8;
  buf[crcAt + 3] = crc;
}
