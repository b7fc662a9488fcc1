import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError, decodeRecord, encodeRecord, forEachRecord, readRecordSections, verifyStoredRecordCrc } from '../src/index.js';

/** Decoding must only ever succeed or throw ProtocolError: never a RangeError or any other crash. */
function decodeOrTypedError(bytes: Buffer): void {
  try {
    forEachRecord(bytes, (offset, sections) => {
      decodeRecord(bytes, offset, offset + sections.totalSize);
      verifyStoredRecordCrc(bytes, offset, sections);
    });
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
}

const arbitraryMessage = fc.record({
  topic: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
  body: fc.uint8Array({ maxLength: 200 }),
  tags: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  keys: fc.array(fc.stringMatching(/^[a-z0-9 ]{1,10}$/), { maxLength: 3 }),
  properties: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
});

describe('record decoding under random and mutated input', () => {
  it('random bytes only ever give records or typed errors', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => decodeOrTypedError(Buffer.from(bytes))), { numRuns: 500 });
  });

  it('mutated valid records only ever give records or typed errors', () => {
    fc.assert(
      fc.property(arbitraryMessage, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (message, mutations) => {
        const record = encodeRecord(message);
        for (const [position, value] of mutations) record[position % record.length] = value;
        decodeOrTypedError(record);
      }),
      { numRuns: 500 },
    );
  });

  it('truncated records are rejected as malformed', () => {
    fc.assert(
      fc.property(arbitraryMessage, fc.nat(), (message, cut) => {
        const record = encodeRecord(message);
        const truncated = record.subarray(0, cut % record.length);
        expect(() => readRecordSections(truncated, 0)).toThrow(ProtocolError);
      }),
      { numRuns: 300 },
    );
  });

  it('valid records round-trip', () => {
    fc.assert(
      fc.property(arbitraryMessage, (message) => {
        const decoded = decodeRecord(encodeRecord(message));
        expect(decoded.topic).toBe(message.topic);
        expect(Buffer.from(decoded.body).equals(Buffer.from(message.body))).toBe(true);
        expect(decoded.tags).toBe(message.tags || undefined);
        expect(decoded.keys).toEqual(message.keys);
        expect(decoded.properties).toEqual({ ...message.properties });
      }),
      { numRuns: 300 },
    );
  });
});
