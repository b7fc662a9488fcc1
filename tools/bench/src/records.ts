import { RecordField, concatRecords, encodeRecord } from '@litemq/protocol';

export const RECORD_BYTES = 1024;
const TAGS = 'bench';

/** One record of exactly `recordBytes` bytes (header + body + topic/tags sections), as a producer sends it. */
export function encodeSizedRecord(topic: string, queueId: number, recordBytes = RECORD_BYTES): Buffer {
  const overhead = encodeRecord({ topic, body: Buffer.alloc(0), tags: TAGS }, { queueId }).length;
  if (recordBytes < overhead) throw new Error(`records must be at least ${overhead} bytes`);
  const body = Buffer.alloc(recordBytes - overhead, 'x');
  return encodeRecord({ topic, body, tags: TAGS }, { queueId });
}

/** A batch of `count` distinct records for one queue: what a producer's batch send carries. */
export function encodeBatch(topic: string, queueId: number, count: number, recordBytes = RECORD_BYTES): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) records.push(encodeSizedRecord(topic, queueId, recordBytes));
  return concatRecords(records);
}

let idCounter = 0;

/**
 * Benchmarks reuse batch buffers once their append resolved (encoding 1 GiB up front would measure
 * the allocator); giving every record a fresh message id keeps the index seeing distinct ids.
 */
export function restampIds(batch: Buffer, recordBytes = RECORD_BYTES): void {
  for (let at = 0; at < batch.length; at += recordBytes) {
    idCounter = (idCounter + 1) >>> 0;
    batch.writeUInt32BE(idCounter, at + RecordField.MSG_ID + 12);
  }
}
