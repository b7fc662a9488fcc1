import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError, encodeReceiptHandle, parseReceiptHandle } from '../src/index.js';

describe('receipt handles', () => {
  it('round-trips', () => {
    const handle = { brokerName: 'broker-a.1_x', checkpointOffset: 123_456_789, checkpointId: '0123456789ABCDEF0123456789ABCDEF', invisibleUntil: 1_712_345_678_901 };
    const text = encodeReceiptHandle(handle);
    expect(text).toBe('P1:broker-a.1_x:123456789:0123456789ABCDEF0123456789ABCDEF:1712345678901');
    expect(parseReceiptHandle(text)).toEqual(handle);
    expect(parseReceiptHandle(text.replace(handle.checkpointId, handle.checkpointId.toLowerCase()))).toEqual(handle);
  });

  it('rejects anything else with RECEIPT_HANDLE_INVALID', () => {
    for (const bad of [undefined, 42, '', 'P1', 'P2:b:1:0123456789ABCDEF0123456789ABCDEF:1', 'P1:b c:1:0123456789ABCDEF0123456789ABCDEF:1', 'P1:b:-1:0123456789ABCDEF0123456789ABCDEF:1',
      'P1:b:1:0123:1', 'P1:b:1:0123456789ABCDEF0123456789ABCDEF:1:extra', 'P1:b:99999999999999999:0123456789ABCDEF0123456789ABCDEF:1', `P1:${'b'.repeat(300)}:1:0123456789ABCDEF0123456789ABCDEF:1`]) {
      expect(() => parseReceiptHandle(bad), String(bad)).toThrow(ProtocolError);
      try {
        parseReceiptHandle(bad);
      } catch (error) {
        expect((error as ProtocolError).code).toBe('RECEIPT_HANDLE_INVALID');
      }
    }
  });

  it('never throws anything but ProtocolError on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          parseReceiptHandle(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});
