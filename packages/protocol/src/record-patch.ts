import { computeRecordCrc } from './record-crc.js';
import { RecordField } from './record-layout.js';
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
  writeU64(buf, offset + RecordField.QUEUE_OFFSET, queueOffset);
  writeU64(buf, offset + RecordField.COMMIT_LOG_OFFSET, commitLogOffset);
  writeU64(buf, offset + RecordField.STORE_TIMESTAMP, storeTimestamp);
  if (storeHost) storeHost.copy(buf, offset + RecordField.STORE_HOST);
  buf.writeUInt32BE(computeRecordCrc(buf, offset, sections), offset + RecordField.RECORD_CRC);
}
