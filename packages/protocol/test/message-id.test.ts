import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MSG_ID_BYTES, ProtocolError, createMessageId, decodeRecord, encodeRecord, isMessageId, messageIdTimestamp, readMessageId, writeMessageId } from '../src/index.js';

describe('message ids', () => {
  it('formats any 16 bytes as the upper-case hex of those bytes, whatever was formatted before', () => {
    // Ids that share their first 6 or 12 bytes, then change them, then return: the cached parts must follow.
    const base = randomBytes(64);
    const variants = [base, Buffer.from(base), randomBytes(64), base];
    variants[1]![10] ^= 0xff; // same prefix, other time
    for (const buf of [...variants, ...Array.from({ length: 200 }, () => randomBytes(40))]) {
      for (const at of [0, 3, 24]) {
        expect(readMessageId(buf, at)).toBe(buf.toString('hex', at, at + MSG_ID_BYTES).toUpperCase());
      }
    }
  });

  it('writes the process prefix, the pid, the time and a counter that grows by one', () => {
    const a = Buffer.alloc(MSG_ID_BYTES);
    const b = Buffer.alloc(MSG_ID_BYTES + 4);
    const now = 1_800_000_123_456;
    writeMessageId(a, 0, now);
    writeMessageId(b, 4, now);
    expect(b.subarray(4, 10)).toEqual(a.subarray(0, 6));
    expect(a.readUInt16BE(4)).toBe(process.pid & 0xffff);
    expect(a.readUIntBE(6, 6)).toBe(now);
    expect(b.readUInt32BE(16)).toBe((a.readUInt32BE(12) + 1) >>> 0);
    expect(messageIdTimestamp(readMessageId(a, 0))).toBe(now);
  });

  it('refuses positions outside the buffer and times that do not fit 48 bits', () => {
    expect(() => writeMessageId(Buffer.alloc(20), 5)).toThrow(RangeError);
    expect(() => writeMessageId(Buffer.alloc(16), 0, 2 ** 48)).toThrow(RangeError);
    expect(() => writeMessageId(Buffer.alloc(16), 0, -1)).toThrow(RangeError);
    expect(() => writeMessageId(Buffer.alloc(16), 0, 1.5)).toThrow(RangeError);
    expect(() => readMessageId(Buffer.alloc(20), -1)).toThrow(RangeError);
    expect(() => readMessageId(Buffer.alloc(15), 0)).toThrow(RangeError);
  });

  it('creates ids that parse back', () => {
    const id = createMessageId();
    expect(isMessageId(id)).toBe(true);
    expect(Math.abs(messageIdTimestamp(id) - Date.now())).toBeLessThan(60_000);
  });
});

describe('encodeRecord fast paths', () => {
  it('still rejects an invalid topic after a valid one was encoded, and a system topic unless allowed', () => {
    encodeRecord({ topic: 'orders', body: 'x' });
    encodeRecord({ topic: '%RETRY%g', body: 'x' }, { allowSystemTopic: true });
    for (const topic of ['bad topic', '', '%RETRY%g']) {
      expect(() => encodeRecord({ topic, body: 'x' })).toThrow(ProtocolError);
    }
    expect(() => encodeRecord({ topic: 'x'.repeat(200), body: 'x' }, { allowSystemTopic: true })).toThrow(ProtocolError);
  });

  it('refuses numbers that do not fit their u32 fields and system property names that are not ASCII', () => {
    for (const queueId of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => encodeRecord({ topic: 'orders', body: 'x' }, { queueId })).toThrow(ProtocolError);
    }
    expect(() => encodeRecord({ topic: 'orders', body: 'x' }, { reconsumeTimes: -1 })).toThrow(ProtocolError);
    expect(() => encodeRecord({ topic: 'orders', body: 'x' }, { systemProperties: { '$ä': 'v' } })).toThrow(ProtocolError);
    expect(encodeRecord({ topic: 'orders', body: 'x' }, { queueId: 2 ** 32 - 1, systemProperties: { '$trace.id-1': 'v' } }).readUInt32BE(32)).toBe(2 ** 32 - 1);
  });

  it('round-trips multi-byte property values (their length is what write() reported)', () => {
    const properties = { city: 'Zürich', emoji: '🚀🚀', empty: '' };
    const record = encodeRecord({ topic: 'orders', body: 'x', properties }, { systemProperties: { '$trace': 'ünï' } });
    const message = decodeRecord(record);
    expect(message.properties).toEqual(properties);
    expect(message.systemProperties['$trace']).toBe('ünï');
  });

  it('encodes into the buffer `allocate` hands out, and refuses one of the wrong size', () => {
    const arena = Buffer.alloc(4096, 0xee);
    const record = encodeRecord({ topic: 'orders', body: 'hello' }, { allocate: (size) => arena.subarray(100, 100 + size) });
    expect(record.buffer).toBe(arena.buffer);
    expect(record.byteOffset).toBe(arena.byteOffset + 100);
    // Stale bytes of the arena never leak into the record: it equals a fresh encoding apart from id and time.
    const fresh = encodeRecord({ topic: 'orders', body: 'hello' }, { msgId: record.subarray(16, 32), bornTimestamp: record.readUIntBE(52 + 2, 6) });
    expect(record).toEqual(fresh);
    expect(() => encodeRecord({ topic: 'orders', body: 'hello' }, { allocate: (size) => Buffer.alloc(size + 1) })).toThrow(RangeError);
  });
});
