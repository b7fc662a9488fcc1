import { describe, expect, it } from 'vitest';
import {
  ProtocolError,
  RecordField,
  SystemProperty,
  concatRecords,
  decodeRecord,
  decodeRecords,
  encodeRecord,
  forEachRecord,
  isMessageId,
  messageIdTimestamp,
  patchStoredFields,
  readRecordSections,
  tagHash,
  MAX_CONSUMER_GROUP_LENGTH,
  MAX_NAME_LENGTH,
  deadLetterTopicOf,
  retryTopicOf,
  validateConsumerGroupName,
  validateGroupName,
  validateTopicName,
  verifyStoredRecordCrc,
  writeHost,
  readHost,
} from '../src/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return undefined;
}

describe('record codec', () => {
  it('round-trips every field of a message', () => {
    const record = encodeRecord(
      {
        topic: 'orders',
        body: 'héllo',
        keys: ['order-1', 'customer 7'],
        tags: 'created',
        properties: { region: 'eu', 'trace.id': 'abc' },
        shardingKey: 'customer-7',
        deliverAt: new Date(1_800_000_000_000),
      },
      { queueId: 3, reconsumeTimes: 2, bornHost: { address: '10.1.2.3', port: 4567 }, bornTimestamp: 1234 },
    );
    const message = decodeRecord(record);
    expect(message.topic).toBe('orders');
    expect(message.body.toString('utf8')).toBe('héllo');
    expect(message.keys).toEqual(['order-1', 'customer 7']);
    expect(message.tags).toBe('created');
    expect(message.properties).toEqual({ region: 'eu', 'trace.id': 'abc' });
    expect(message.systemProperties[SystemProperty.SHARDING_KEY]).toBe('customer-7');
    expect(message.systemProperties[SystemProperty.DELIVER_AT]).toBe('1800000000000');
    expect(message.queueId).toBe(3);
    expect(message.reconsumeTimes).toBe(2);
    expect(message.bornHost).toBe('10.1.2.3:4567');
    expect(message.bornTimestamp).toBe(1234);
    expect(isMessageId(message.msgId)).toBe(true);
    expect(Math.abs(messageIdTimestamp(message.msgId) - Date.now())).toBeLessThan(60_000);
  });

  it('gives every message a distinct id', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(decodeRecord(encodeRecord({ topic: 't', body: '' })).msgId);
    expect(ids.size).toBe(10_000);
  });

  it('patches store fields in place and seals the record with a CRC that detects any flipped byte', () => {
    const record = encodeRecord({ topic: 'orders', body: Buffer.alloc(300, 7), tags: 'x', keys: 'k' });
    const before = Buffer.from(record);
    const sections = readRecordSections(record, 0);
    const host = Buffer.alloc(18);
    writeHost(host, 0, '::1', 10911);
    patchStoredFields(record, 0, sections, 42, 1_000_000_000_000, 1_700_000_000_000, host);
    const message = decodeRecord(record);
    expect(message.queueOffset).toBe(42);
    expect(message.commitLogOffset).toBe(1_000_000_000_000);
    expect(message.storeTimestamp).toBe(1_700_000_000_000);
    expect(message.storeHost).toBe('[0:0:0:0:0:0:0:1]:10911');
    // Body and trailer bytes are untouched: the broker never re-encodes.
    expect(record.subarray(RecordField.BODY).equals(before.subarray(RecordField.BODY))).toBe(true);
    verifyStoredRecordCrc(record, 0, sections);
    for (let i = 8; i < record.length; i += 7) {
      const copy = Buffer.from(record);
      copy[i] ^= 0x10;
      expect(() => {
        const s = readRecordSections(copy, 0);
        verifyStoredRecordCrc(copy, 0, s);
      }, `flip at ${i}`).toThrow(ProtocolError);
    }
  });

  it('walks batches of concatenated records', () => {
    const batch = concatRecords([0, 1, 2].map((i) => encodeRecord({ topic: 't', body: `m${i}`, tags: `t${i}` })));
    const offsets: number[] = [];
    expect(forEachRecord(batch, (offset) => offsets.push(offset))).toBe(3);
    expect(decodeRecords(batch).map((m) => m.body.toString())).toEqual(['m0', 'm1', 'm2']);
    expect(codeOf(() => forEachRecord(batch.subarray(0, batch.length - 1), () => undefined))).toBe('RECORD_MALFORMED');
  });

  it('rejects invalid messages with precise codes', () => {
    expect(codeOf(() => encodeRecord({ topic: 'bad topic', body: '' }))).toBe('TOPIC_NAME_INVALID');
    expect(codeOf(() => encodeRecord({ topic: '%RETRY%g', body: '' }))).toBe('TOPIC_NAME_INVALID');
    expect(codeOf(() => encodeRecord({ topic: 'x'.repeat(128), body: '' }))).toBe('TOPIC_NAME_INVALID');
    expect(codeOf(() => encodeRecord({ topic: 't', body: Buffer.alloc(11) }, { maxBodyBytes: 10 }))).toBe('MESSAGE_TOO_LARGE');
    expect(codeOf(() => encodeRecord({ topic: 't', body: '', properties: { big: 'x'.repeat(40_000) } }))).toBe('PROPERTIES_TOO_LARGE');
    expect(codeOf(() => encodeRecord({ topic: 't', body: '', properties: { $sneaky: 'x' } }))).toBe('MESSAGE_INVALID');
    expect(codeOf(() => encodeRecord({ topic: 't', body: '', keys: [''] }))).toBe('MESSAGE_INVALID');
    expect(codeOf(() => encodeRecord({ topic: 't', body: '', delayMs: Number.NaN }))).toBe('MESSAGE_INVALID');
    expect(codeOf(() => encodeRecord({ topic: 't', body: '', tags: 'x'.repeat(256) }))).toBe('MESSAGE_INVALID');
    expect(encodeRecord({ topic: '%RETRY%g', body: '' }, { allowSystemTopic: true }).length).toBeGreaterThan(0);
    expect(() => validateTopicName('%DLQ%group-1', { allowSystem: true })).not.toThrow();
  });

  it('accepts only consumer group names whose retry and dead-letter topics are valid topic names', () => {
    const longest = 'g'.repeat(MAX_CONSUMER_GROUP_LENGTH);
    expect(MAX_CONSUMER_GROUP_LENGTH).toBe(MAX_NAME_LENGTH - '%RETRY%'.length);
    expect(() => validateConsumerGroupName(longest)).not.toThrow();
    expect(() => validateTopicName(retryTopicOf(longest), { allowSystem: true })).not.toThrow();
    expect(() => validateTopicName(deadLetterTopicOf(longest), { allowSystem: true })).not.toThrow();
    expect(codeOf(() => validateConsumerGroupName(`${longest}g`))).toBe('GROUP_NAME_INVALID');
    expect(() => validateConsumerGroupName(`${longest}g`)).toThrow(`the maximum is ${MAX_CONSUMER_GROUP_LENGTH}`);
    expect(codeOf(() => validateConsumerGroupName('g'.repeat(MAX_NAME_LENGTH)))).toBe('GROUP_NAME_INVALID');
    // System-looking names are reserved: no `%` in a consumer group.
    for (const name of ['%X%y', '%RETRY%g', '%DLQ%g', '%TOOLS%', 'a%b', '', 'bad group']) expect(codeOf(() => validateConsumerGroupName(name)), name).toBe('GROUP_NAME_INVALID');
    // Producer groups keep the general rule.
    expect(() => validateGroupName('p'.repeat(MAX_NAME_LENGTH))).not.toThrow();
  });

  it('hashes tags stably with 0 reserved for no tag', () => {
    expect(tagHash(undefined)).toBe(0);
    expect(tagHash('')).toBe(0);
    expect(tagHash('created')).toBe(tagHash('created'));
    expect(tagHash('created')).not.toBe(tagHash('paid'));
  });

  it('encodes IPv4 and IPv6 hosts', () => {
    const buf = Buffer.alloc(18);
    writeHost(buf, 0, '127.0.0.1', 1);
    expect(readHost(buf, 0)).toBe('127.0.0.1:1');
    writeHost(buf, 0, 'fe80::1:2', 65535);
    expect(readHost(buf, 0)).toBe('[fe80:0:0:0:0:0:1:2]:65535');
    expect(codeOf(() => writeHost(buf, 0, '300.1.1.1', 1))).toBe('MESSAGE_INVALID');
  });
});

describe('crc32Range', () => {
  it('matches zlib.crc32 on any range, including chained ranges', async () => {
    const { crc32 } = await import('node:zlib');
    const { crc32Range } = await import('../src/index.js');
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff));
    for (const [start, end] of [[0, 0], [0, 1], [5, 130], [0, 300]] as const) {
      expect(crc32Range(data, start, end)).toBe(crc32(data.subarray(start, end)));
    }
    expect(crc32Range(data, 100, 300, crc32Range(data, 0, 100))).toBe(crc32(data));
  });

  it('matches zlib.crc32 for every length and alignment around the slice-by-8 and native thresholds', async () => {
    const { crc32 } = await import('node:zlib');
    const { crc32Range } = await import('../src/index.js');
    const data = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 131 + 7) & 0xff));
    for (let start = 0; start < 9; start++) {
      for (let length = 0; length <= 520; length++) {
        const end = start + length;
        expect(crc32Range(data, start, end)).toBe(crc32(data.subarray(start, end)));
        expect(crc32Range(data, end, end + 17, crc32Range(data, start, end))).toBe(crc32(data.subarray(start, end + 17)));
      }
    }
  });
});

describe('properties validation', () => {
  it('rejects a record whose properties section does not parse, at the structural check', async () => {
    const { encodeRecord, readRecordSections } = await import('../src/index.js');
    const record = encodeRecord({ topic: 't', body: 'x', properties: { a: '1', bb: '22' } });
    const sections = readRecordSections(record, 0);
    const broken = Buffer.from(record);
    broken[sections.propertiesStart] = 200; // first name length now overruns the section
    expect(() => readRecordSections(broken, 0)).toThrow(/property name overruns/);
    const zeroName = Buffer.from(record);
    zeroName[sections.propertiesStart] = 0;
    expect(() => readRecordSections(zeroName, 0)).toThrow(/RECORD_MALFORMED|property/);
  });
});

describe('RecordMessage', () => {
  it('exposes exactly what decodeRecord decodes, lazily', async () => {
    const { RecordMessage, decodeRecord, encodeRecord } = await import('../src/index.js');
    const record = encodeRecord({ topic: 'lazy', body: 'b', tags: 't', keys: ['k'], properties: { p: 'v' }, shardingKey: 's' }, { queueId: 2, bornHost: { address: '10.0.0.1', port: 9 } });
    const framed = Buffer.concat([Buffer.from('xx'), record]);
    expect(new RecordMessage(framed, 2, framed.length).toJSON()).toEqual(decodeRecord(record));
  });
});

describe('readCheckedSections and rangesEqual', () => {
  it('gives the same positions as readRecordSections and still refuses inconsistent sizes', async () => {
    const { concatRecords, encodeRecord, rangesEqual, readCheckedSections, readRecordSections, emptySections } = await import('../src/index.js');
    const records = [
      encodeRecord({ topic: 't', body: '' }),
      encodeRecord({ topic: 'topic-b', body: Buffer.alloc(300, 1), tags: 'tag', keys: ['a', 'bb'], properties: { p: 'v', q: 'w' } }),
      encodeRecord({ topic: 'c', body: 'x'.repeat(129) }),
    ];
    const frame = concatRecords(records);
    const checked = emptySections();
    for (let at = 0; at < frame.length; at += checked.totalSize) {
      expect(readCheckedSections(frame, at, checked)).toEqual(readRecordSections(frame, at, frame.length));
    }
    const broken = Buffer.from(frame);
    broken.writeUInt32BE(frame.readUInt32BE(0) + 1, 0);
    expect(() => readCheckedSections(broken, 0, emptySections())).toThrow(/sections do not add up|overrun/);
    expect(() => readCheckedSections(frame.subarray(0, 50), 0, emptySections())).toThrow(/declared size/);
    const bytes = Buffer.from('abcabd');
    expect(rangesEqual(bytes, 0, 3, 2)).toBe(true);
    expect(rangesEqual(bytes, 0, 3, 3)).toBe(false);
    expect(rangesEqual(bytes, 1, 1, 5)).toBe(true);
  });
});
