import type { Frame } from '@litemq/protocol';
import { ResponseCode, writeU64 } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { commitLogOffsetAt, parseSendReply, queueOffsetAt } from '../src/send-result.js';

function frame(code: number, header: Record<string, unknown>, body: Buffer = Buffer.alloc(0)): Frame {
  return { version: 1, flags: 1, code, opaque: 1, header: header as Frame['header'], body };
}

function offsets(pairs: Array<[number, number]>): Buffer {
  const body = Buffer.alloc(pairs.length * 16);
  pairs.forEach(([q, c], i) => {
    writeU64(body, i * 16, q);
    writeU64(body, i * 16 + 8, c);
  });
  return body;
}

describe('send response parsing', () => {
  it('reads one [queueOffset][commitLogOffset] pair per record, including offsets above 2^32', () => {
    const big = 2 ** 40 + 7;
    const reply = parseSendReply(frame(ResponseCode.SUCCESS, { count: 3, brokerName: 'b1', storeTimestamp: 1 }, offsets([[0, 100], [1, 200], [big, big + 1]])), 3, 'x');
    expect(reply.status).toBe('SEND_OK');
    expect(reply.brokerName).toBe('b1');
    expect([0, 1, 2].map((i) => queueOffsetAt(reply, i))).toEqual([0, 1, big]);
    expect([0, 1, 2].map((i) => commitLogOffsetAt(reply, i))).toEqual([100, 200, big + 1]);
  });

  it('maps stored-but-unconfirmed codes to their statuses', () => {
    const flush = parseSendReply(frame(ResponseCode.FLUSH_DISK_TIMEOUT, { count: 1, brokerName: 'b1' }, offsets([[5, 6]])), 1, 'x');
    expect(flush.status).toBe('FLUSH_DISK_TIMEOUT');
    expect(queueOffsetAt(flush, 0)).toBe(5);
    const slave = parseSendReply(frame(ResponseCode.SLAVE_NOT_AVAILABLE, {}), 2, 'fallback');
    expect(slave.status).toBe('SLAVE_NOT_AVAILABLE');
    expect(slave.brokerName).toBe('fallback');
    expect(queueOffsetAt(slave, 1)).toBe(-1);
  });

  it('throws the remote error of error responses and BAD_RESPONSE for a short body', () => {
    expect(() => parseSendReply(frame(ResponseCode.SYSTEM_BUSY, { error: 'busy', errorCode: 'SYSTEM_BUSY' }), 1, 'x')).toThrow(
      expect.objectContaining({ name: 'RemoteError', code: 'SYSTEM_BUSY', retriable: true }),
    );
    expect(() => parseSendReply(frame(ResponseCode.MESSAGE_ILLEGAL, {}), 1, 'x')).toThrow(expect.objectContaining({ code: 'MESSAGE_ILLEGAL', retriable: false }));
    expect(() => parseSendReply(frame(ResponseCode.SUCCESS, { count: 2 }, offsets([[0, 0]])), 2, 'x')).toThrow(expect.objectContaining({ code: 'BAD_RESPONSE' }));
  });
});
