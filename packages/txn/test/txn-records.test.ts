import { RecordField, RecordFlag, SystemProperty, TXN_CHECK_IMMUNITY_PROPERTY, computeRecordCrc, decodeRecord, encodeRecord, readRecordSections, writeU64 } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { TXN_HALF_TOPIC } from '../src/constants.js';
import { toCommittedRecord, toHalfRecord } from '../src/txn-records.js';

function prepared(): Buffer {
  const record = encodeRecord(
    { topic: 'orders', body: Buffer.from('héllo body'), tags: 'tagA', keys: ['k1', 'k2'], properties: { color: 'blué', size: 'L' } },
    { flags: RecordFlag.TX_PREPARED, systemProperties: { [TXN_CHECK_IMMUNITY_PROPERTY]: '1500', [SystemProperty.ORIGIN_TOPIC]: 'forged' }, queueId: 3, bornHost: { address: '10.0.0.1', port: 1234 } },
  );
  return record;
}

describe('half and committed records (rebuilt without decoding)', () => {
  it('keep id, body, tags, keys, properties and born fields; move topic/queue into system properties and back', () => {
    const record = prepared();
    const source = decodeRecord(record);
    const { half, msgId, immunityMs } = toHalfRecord(record, { producerGroup: 'pg', transactionId: 'tx-1' });
    expect(msgId).toBe(source.msgId);
    expect(immunityMs).toBe(1500);
    const h = decodeRecord(half);
    expect(h.topic).toBe(TXN_HALF_TOPIC);
    expect(h.queueId).toBe(0);
    expect(h.flags).toBe(RecordFlag.TX_PREPARED);
    expect(h.msgId).toBe(source.msgId);
    expect(Buffer.from(h.body).toString()).toBe('héllo body');
    expect(h.tags).toBe('tagA');
    expect(h.keys).toEqual(['k1', 'k2']);
    expect(h.properties).toEqual({ color: 'blué', size: 'L' });
    expect(h.bornTimestamp).toBe(source.bornTimestamp);
    expect(h.bornHost).toEqual(source.bornHost);
    expect(h.systemProperties).toEqual({
      [TXN_CHECK_IMMUNITY_PROPERTY]: '1500', [SystemProperty.ORIGIN_TOPIC]: 'orders', [SystemProperty.ORIGIN_QUEUE_ID]: '3', [SystemProperty.PRODUCER_GROUP]: 'pg', [SystemProperty.TRANSACTION_ID]: 'tx-1',
    });
    // As stored: the store patches its fields and seals the CRC.
    writeU64(half, RecordField.COMMIT_LOG_OFFSET, 4096);
    const sections = readRecordSections(half, 0);
    half.writeUInt32BE(computeRecordCrc(half, 0, sections), RecordField.RECORD_CRC);
    const committed = decodeRecord(toCommittedRecord(half));
    expect(committed.topic).toBe('orders');
    expect(committed.queueId).toBe(3);
    expect(committed.flags).toBe(RecordFlag.TX_COMMIT);
    expect(committed.preparedTxOffset).toBe(4096);
    expect(committed.commitLogOffset).toBe(0);
    expect(committed.storeTimestamp).toBe(0);
    expect(committed.msgId).toBe(source.msgId);
    expect(committed.keys).toEqual(['k1', 'k2']);
    expect(committed.tags).toBe('tagA');
    expect(committed.properties).toEqual({ color: 'blué', size: 'L' });
    expect(committed.systemProperties).toEqual({ [SystemProperty.PRODUCER_GROUP]: 'pg', [SystemProperty.TRANSACTION_ID]: 'tx-1' });
    expect(Buffer.from(committed.body).toString()).toBe('héllo body');
  });
});
