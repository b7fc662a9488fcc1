import { describe, expect, it, vi } from 'vitest';
import { ProtocolError, ProtocolErrorCode } from '../src/errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_MIN_LENGTH,
  FRAME_PREFIX_BYTES,
  FRAME_VERSION,
  FrameFlag,
  isOnewayFrame,
  isRequestFrame,
  isResponseFrame,
} from '../src/frame.js';
import type { Frame, FrameHeader, FrameInit } from '../src/frame.js';
import { decodeFrame } from '../src/frame-decode.js';
import { FrameDecoder } from '../src/frame-decoder.js';
import { encodeFrame, encodeFrameParts } from '../src/frame-encode.js';
import { RequestCode, requestCodeName } from '../src/request-code.js';
import { ResponseCode, isRetriableResponse, responseCodeName } from '../src/response-code.js';

const sendRequest: FrameInit = {
  code: RequestCode.SEND_MESSAGE,
  opaque: 7,
  header: { topic: 'orders', queueId: 3, bornTimestamp: 1_700_000_000_123, tags: ['a', 'b'], key: null },
  body: Buffer.from('hello world'),
};

function expectFrame(frame: Frame, init: FrameInit): void {
  expect(frame.version).toBe(FRAME_VERSION);
  expect(frame.flags).toBe(init.flags ?? 0);
  expect(frame.code).toBe(init.code);
  expect(frame.opaque).toBe(init.opaque);
  expect(frame.header).toEqual(init.header ?? {});
  const body = init.body === undefined ? [] : init.body instanceof Uint8Array ? [init.body] : init.body;
  expect(frame.body.equals(Buffer.concat(body))).toBe(true);
}

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

/** A frame's bytes with the given fixed fields overwritten. */
function rawFrame(
  fields: { frameLength?: number; version?: number; flags?: number; headerLength?: number },
  header = Buffer.alloc(0),
  body = Buffer.alloc(0)
): Buffer {
  const buf = Buffer.concat([Buffer.alloc(FRAME_PREFIX_BYTES), header, body]);
  buf.writeUInt32BE(fields.frameLength ?? buf.length - 4, 0);
  buf[4] = fields.version ?? FRAME_VERSION;
  buf[5] = fields.flags ?? 0;
  buf.writeUInt16BE(RequestCode.HEARTBEAT, 6);
  buf.writeUInt32BE(1, 8);
  buf.writeUInt32BE(fields.headerLength ?? header.length, 12);
  return buf;
}

describe('frame round trips', () => {
  const cases: Array<[string, FrameInit]> = [
    ['request', sendRequest],
    [
      'response',
      {
        flags: FrameFlag.RESPONSE,
        code: ResponseCode.SUCCESS,
        opaque: 7,
        header: { msgId: 'abc', queueOffset: 2n ** 63n + 1n },
      },
    ],
    ['oneway', { flags: FrameFlag.ONEWAY, code: RequestCode.HEARTBEAT, opaque: 0, header: { clientId: 'c1' } }],
    ['empty header and body', { code: RequestCode.GET_CLUSTER_INFO, opaque: 0xffff_ffff }],
    ['empty header, body only', { code: RequestCode.SEND_BATCH, opaque: 1, header: {}, body: Buffer.from([1, 2, 3]) }],
    [
      'header only',
      {
        code: 0xffff,
        opaque: 2,
        header: { nested: { list: [1, 'x', true, null, Buffer.from([9])] }, at: new Date(1234) },
      },
    ],
    [
      'multi-chunk body',
      {
        code: RequestCode.SEND_BATCH,
        opaque: 3,
        body: [Buffer.from('ab'), new Uint8Array(0), new Uint8Array([99, 100])],
      },
    ],
  ];

  it.each(cases)('%s via encodeFrame + decodeFrame', (_name, init) => {
    expectFrame(decodeFrame(encodeFrame(init)), init);
  });

  it.each(cases)('%s via encodeFrameParts + FrameDecoder', (_name, init) => {
    const [head, body] = encodeFrameParts(init);
    const decoder = new FrameDecoder();
    const frames = [head, ...body].flatMap((part) => decoder.push(part));
    expect(frames).toHaveLength(1);
    expectFrame(frames[0], init);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('encodes an empty header in zero bytes and the minimum frame length', () => {
    const buf = encodeFrame({ code: RequestCode.HEARTBEAT, opaque: 9 });
    expect(buf.length).toBe(FRAME_PREFIX_BYTES);
    expect(buf.readUInt32BE(0)).toBe(FRAME_MIN_LENGTH);
    expect(buf.readUInt32BE(12)).toBe(0);
  });

  it('accepts an explicitly encoded empty msgpack map as header', () => {
    const frame = decodeFrame(rawFrame({}, Buffer.from([0x80])));
    expect(frame.header).toEqual({});
  });

  it('writes the documented big-endian layout', () => {
    const buf = encodeFrame({
      flags: FrameFlag.RESPONSE,
      code: 0x0102,
      opaque: 0x0a0b0c0d,
      header: { a: 1 },
      body: Buffer.from([0xee]),
    });
    const headerLength = buf.readUInt32BE(12);
    expect(buf.readUInt32BE(0)).toBe(buf.length - 4);
    expect([...buf.subarray(4, 12)]).toEqual([FRAME_VERSION, FrameFlag.RESPONSE, 1, 2, 0x0a, 0x0b, 0x0c, 0x0d]);
    // A msgpack map (fixmap or map16, both valid) holding "a" => 1.
    expect([0x81, 0xde]).toContain(buf[16]);
    expect([...buf.subarray(16 + headerLength - 3, 16 + headerLength)]).toEqual([0xa1, 0x61, 0x01]);
    expect(buf.length).toBe(16 + headerLength + 1);
    expect(buf[buf.length - 1]).toBe(0xee);
  });

  it('passes body buffers through encodeFrameParts without copying', () => {
    const body = Buffer.alloc(1 << 20, 7);
    const [head, parts] = encodeFrameParts({ code: RequestCode.SEND_MESSAGE, opaque: 1, header: { topic: 't' }, body });
    expect(parts[0]).toBe(body);
    expect(head.readUInt32BE(0)).toBe(head.length - 4 + body.length);
  });

  it('round-trips a large body split into socket-sized chunks, the body a view of the assembled frame', () => {
    const body = Buffer.alloc(8 * 1024 * 1024 + 13);
    for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
    const encoded = encodeFrame({ code: RequestCode.SEND_BATCH, opaque: 5, header: { n: 1 }, body });
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let i = 0; i < encoded.length; i += 65536) frames.push(...decoder.push(encoded.subarray(i, i + 65536)));
    expect(frames).toHaveLength(1);
    expect(frames[0].body.equals(body)).toBe(true);
    expect(frames[0].body.buffer.byteLength).toBe(encoded.length);
  });

  it('returns a view of the chunk when one chunk holds the whole frame', () => {
    const encoded = encodeFrame(sendRequest);
    const [frame] = new FrameDecoder().push(encoded);
    expect(frame.body.buffer).toBe(encoded.buffer);
  });

  it('classifies frames by flags', () => {
    expect(isRequestFrame({ flags: 0 })).toBe(true);
    expect(isResponseFrame({ flags: FrameFlag.RESPONSE })).toBe(true);
    expect(isOnewayFrame({ flags: FrameFlag.ONEWAY })).toBe(true);
    expect(isRequestFrame({ flags: FrameFlag.ONEWAY })).toBe(false);
  });
});

describe('FrameDecoder stream handling', () => {
  const frames: FrameInit[] = [
    sendRequest,
    { flags: FrameFlag.RESPONSE, code: ResponseCode.SYSTEM_BUSY, opaque: 7 },
    { flags: FrameFlag.ONEWAY, code: RequestCode.HEARTBEAT, opaque: 8, header: { x: 'y' }, body: Buffer.from([0]) },
  ];
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));

  it('decodes frames split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const out = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      expect(out).toHaveLength(frames.length);
      out.forEach((frame, i) => expectFrame(frame, frames[i]));
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const decoder = new FrameDecoder();
    const out: Frame[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(out).toHaveLength(frames.length);
    out.forEach((frame, i) => expectFrame(frame, frames[i]));
  });

  it('decodes many frames from one chunk', () => {
    const many = Array.from(
      { length: 1000 },
      (_, i): FrameInit => ({ code: RequestCode.PULL_MESSAGE, opaque: i, header: { i }, body: Buffer.from([i & 0xff]) })
    );
    const out = new FrameDecoder().push(Buffer.concat(many.map((f) => encodeFrame(f))));
    expect(out).toHaveLength(1000);
    out.forEach((frame, i) => expectFrame(frame, many[i]));
  });

  it('keeps a partial trailing frame buffered', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(stream.subarray(0, stream.length - 1))).toHaveLength(2);
    expect(decoder.bufferedBytes).toBeGreaterThan(0);
    expect(decoder.push(stream.subarray(stream.length - 1))).toHaveLength(1);
    expect(decoder.push(Buffer.alloc(0))).toHaveLength(0);
  });

  it('write() delivers frames to a callback and survives a throwing callback', () => {
    const decoder = new FrameDecoder();
    const seen: number[] = [];
    expect(() =>
      decoder.write(stream, (frame) => {
        seen.push(frame.opaque);
        if (seen.length === 1) throw new Error('handler failed');
      })
    ).toThrow('handler failed');
    decoder.write(Buffer.alloc(0), (frame) => seen.push(frame.opaque));
    expect(seen).toEqual([7, 7, 8]);
    expect(decoder.error).toBeUndefined();
  });

  it('accepts plain Uint8Array chunks', () => {
    const u8 = new Uint8Array(stream);
    expect(new FrameDecoder().push(u8)).toHaveLength(3);
  });
});

describe('frame errors', () => {
  it('rejects a length below the minimum from the first 4 bytes', () => {
    const decoder = new FrameDecoder();
    const err = protocolError(() => decoder.push(Buffer.from([0, 0, 0, FRAME_MIN_LENGTH - 1])));
    expect(err.code).toBe(ProtocolErrorCode.FRAME_LENGTH_INVALID);
    expect(protocolError(() => decodeFrame(rawFrame({ frameLength: 3 }))).code).toBe(
      ProtocolErrorCode.FRAME_LENGTH_INVALID
    );
  });

  it('rejects an oversize length from the first 4 bytes without allocating', () => {
    const decoder = new FrameDecoder();
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    const alloc = vi.spyOn(Buffer, 'alloc');
    try {
      const err = protocolError(() => decoder.push(Buffer.from([0x80, 0, 0, 0])));
      expect(err.code).toBe(ProtocolErrorCode.FRAME_LENGTH_INVALID);
      expect(allocUnsafe).not.toHaveBeenCalled();
      expect(alloc).not.toHaveBeenCalled();
    } finally {
      allocUnsafe.mockRestore();
      alloc.mockRestore();
    }
  });

  it('honours maxFrameBytes (length field included)', () => {
    const encoded = encodeFrame({ code: 1, opaque: 1, body: Buffer.alloc(100) });
    expect(new FrameDecoder({ maxFrameBytes: encoded.length }).push(encoded)).toHaveLength(1);
    const err = protocolError(() =>
      new FrameDecoder({ maxFrameBytes: encoded.length - 1 }).push(encoded.subarray(0, 4))
    );
    expect(err.code).toBe(ProtocolErrorCode.FRAME_LENGTH_INVALID);
    expect(protocolError(() => decodeFrame(encoded, { maxFrameBytes: 64 })).code).toBe(
      ProtocolErrorCode.FRAME_LENGTH_INVALID
    );
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
    expect(() => new FrameDecoder({ maxFrameBytes: 3 })).toThrow(RangeError);
  });

  it('rejects an unknown version', () => {
    const buf = rawFrame({ version: 2 });
    expect(protocolError(() => new FrameDecoder().push(buf)).code).toBe(ProtocolErrorCode.FRAME_VERSION_UNSUPPORTED);
    expect(protocolError(() => decodeFrame(buf)).code).toBe(ProtocolErrorCode.FRAME_VERSION_UNSUPPORTED);
  });

  it('rejects bad fixed fields before the rest of the frame arrives', () => {
    const buf = rawFrame({ version: 9, frameLength: 1_000_000 });
    expect(protocolError(() => new FrameDecoder().push(buf.subarray(0, FRAME_PREFIX_BYTES))).code).toBe(
      ProtocolErrorCode.FRAME_VERSION_UNSUPPORTED
    );
  });

  it('rejects a header longer than the frame', () => {
    const buf = rawFrame({ headerLength: 1 });
    expect(protocolError(() => new FrameDecoder().push(buf)).code).toBe(ProtocolErrorCode.FRAME_TRUNCATED);
    expect(protocolError(() => decodeFrame(buf)).code).toBe(ProtocolErrorCode.FRAME_TRUNCATED);
  });

  it('rejects a buffer shorter or longer than its declared frame in decodeFrame', () => {
    const encoded = encodeFrame(sendRequest);
    expect(protocolError(() => decodeFrame(encoded.subarray(0, 2))).code).toBe(ProtocolErrorCode.FRAME_TRUNCATED);
    expect(protocolError(() => decodeFrame(encoded.subarray(0, encoded.length - 1))).code).toBe(
      ProtocolErrorCode.FRAME_TRUNCATED
    );
    expect(protocolError(() => decodeFrame(Buffer.concat([encoded, Buffer.from([0])]))).code).toBe(
      ProtocolErrorCode.FRAME_MALFORMED
    );
  });

  it.each([
    ['unknown flag bits', rawFrame({ flags: 4 })],
    ['response and oneway together', rawFrame({ flags: FrameFlag.RESPONSE | FrameFlag.ONEWAY })],
    ['undecodable msgpack', rawFrame({}, Buffer.from([0xc1]))],
    ['truncated msgpack', rawFrame({}, Buffer.from([0x82, 0xa1, 0x61]))],
    ['trailing bytes after the header map', rawFrame({}, Buffer.from([0x80, 0x01]))],
    ['header that is an array', rawFrame({}, Buffer.from([0x91, 0x01]))],
    ['header that is a string', rawFrame({}, Buffer.from([0xa1, 0x61]))],
    ['header that is nil', rawFrame({}, Buffer.from([0xc0]))],
    ['header holding a Set (msgpackr extension)', rawFrame({}, Buffer.from([0x81, 0xa1, 0x73, 0xd4, 0x73, 0x90]))],
    ['structured-clone pointer extension', rawFrame({}, Buffer.from([0xd6, 0x70, 0, 0, 0, 1]))],
  ])('rejects %s as FRAME_MALFORMED', (_name, buf) => {
    expect(protocolError(() => new FrameDecoder().push(buf)).code).toBe(ProtocolErrorCode.FRAME_MALFORMED);
    expect(protocolError(() => decodeFrame(buf)).code).toBe(ProtocolErrorCode.FRAME_MALFORMED);
  });

  it('rejects absurdly deep headers as FRAME_MALFORMED', () => {
    const deep = Buffer.concat([Buffer.from([0x81, 0xa1, 0x61]), Buffer.alloc(100_000, 0x91), Buffer.from([0x01])]);
    expect(protocolError(() => decodeFrame(rawFrame({}, deep))).code).toBe(ProtocolErrorCode.FRAME_MALFORMED);
  });

  it('poisons the decoder after an error', () => {
    const decoder = new FrameDecoder();
    const first = protocolError(() => decoder.push(rawFrame({ version: 0 })));
    expect(decoder.error).toBe(first);
    expect(decoder.bufferedBytes).toBe(0);
    expect(protocolError(() => decoder.push(encodeFrame(sendRequest)))).toBe(first);
  });

  it('rejects invalid fields when encoding', () => {
    const bad: FrameInit[] = [
      { code: 0x10000, opaque: 0 },
      { code: -1, opaque: 0 },
      { code: 1, opaque: 2 ** 32 },
      { code: 1, opaque: 1.5 },
      { code: 1, opaque: 0, flags: 4 },
      { code: 1, opaque: 0, flags: FrameFlag.RESPONSE | FrameFlag.ONEWAY },
      { code: 1, opaque: 0, header: { big: 2n ** 64n } },
    ];
    for (const init of bad) expect(protocolError(() => encodeFrame(init)).code).toBe(ProtocolErrorCode.FRAME_MALFORMED);
  });

  it('guards against prototype pollution through header keys', () => {
    const header = JSON.parse('{"__proto__":{"polluted":true}}') as FrameHeader;
    const frame = decodeFrame(encodeFrame({ code: 1, opaque: 1, header }));
    expect(Object.getPrototypeOf(frame.header)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('codes', () => {
  it('has unique request and response codes that fit in u16', () => {
    for (const codes of [Object.values(RequestCode), Object.values(ResponseCode)]) {
      expect(new Set(codes).size).toBe(codes.length);
      for (const code of codes) expect(code >= 0 && code <= 0xffff).toBe(true);
    }
  });

  it('names codes and classifies retriable responses', () => {
    expect(requestCodeName(RequestCode.SEND_MESSAGE)).toBe('SEND_MESSAGE');
    expect(requestCodeName(9999)).toBe('UNKNOWN(9999)');
    expect(responseCodeName(ResponseCode.PULL_OFFSET_MOVED)).toBe('PULL_OFFSET_MOVED');
    expect(isRetriableResponse(ResponseCode.SYSTEM_BUSY)).toBe(true);
    expect(isRetriableResponse(ResponseCode.SERVICE_NOT_AVAILABLE)).toBe(true);
    expect(isRetriableResponse(ResponseCode.SUCCESS)).toBe(false);
    expect(isRetriableResponse(ResponseCode.MESSAGE_ILLEGAL)).toBe(false);
    expect(isRetriableResponse(ResponseCode.FLUSH_DISK_TIMEOUT)).toBe(false);
  });
});
