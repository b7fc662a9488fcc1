import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError, ProtocolErrorCode } from '../src/errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_MIN_LENGTH, FrameFlag } from '../src/frame.js';
import type { Frame, FrameHeader, FrameHeaderValue, FrameInit } from '../src/frame.js';
import { decodeFrame } from '../src/frame-decode.js';
import { FrameDecoder } from '../src/frame-decoder.js';
import { encodeFrame } from '../src/frame-encode.js';

/** Override with FUZZ_RUNS=20000 for a deeper local run. */
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Outcome of feeding a byte stream: the frames delivered before any error, and that error's code. */
interface Outcome {
  frames: Frame[];
  error: string | undefined;
}

/** Feeds `stream` cut at `cuts`, asserting the decoder only ever yields frames or throws ProtocolError. */
function feed(stream: Buffer, cuts: readonly number[], maxFrameBytes = 4096): Outcome {
  const decoder = new FrameDecoder({ maxFrameBytes });
  const frames: Frame[] = [];
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  try {
    for (const end of [...points, stream.length]) {
      decoder.write(stream.subarray(start, end), (frame) => frames.push(frame));
      start = end;
    }
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    // Poisoned: further input rethrows the same error.
    expect(() => decoder.push(Buffer.from([0]))).toThrow(error as Error);
    return { frames, error: (error as ProtocolError).code };
  }
  return { frames, error: undefined };
}

function summary(outcome: Outcome): unknown {
  return {
    error: outcome.error,
    frames: outcome.frames.map((f) => [f.flags, f.code, f.opaque, f.header, f.body.toString('hex')]),
  };
}

const headerScalar: fc.Arbitrary<FrameHeaderValue> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true }).filter((n) => !Object.is(n, -0)),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes))
);

const headerKey = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');

const headerArb: fc.Arbitrary<FrameHeader> = fc.dictionary(
  headerKey,
  fc.oneof(
    headerScalar,
    fc.array(headerScalar, { maxLength: 4 }),
    fc.dictionary(headerKey, headerScalar, { maxKeys: 3 })
  ),
  { maxKeys: 6 }
);

const frameArb: fc.Arbitrary<FrameInit> = fc.record({
  flags: fc.constantFrom(0, FrameFlag.RESPONSE, FrameFlag.ONEWAY),
  code: fc.integer({ min: 0, max: 0xffff }),
  opaque: fc.integer({ min: 0, max: 0xffff_ffff }),
  header: headerArb,
  body: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
});

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

describe('frame codec properties', () => {
  it('round-trips any valid frames through any chunking', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), cutsArb, (inits, cuts) => {
        const stream = Buffer.concat(inits.map((f) => encodeFrame(f)));
        const { frames, error } = feed(stream, cuts);
        expect(error).toBeUndefined();
        expect(frames).toHaveLength(inits.length);
        frames.forEach((frame, i) => {
          expect(frame.flags).toBe(inits[i].flags);
          expect(frame.code).toBe(inits[i].code);
          expect(frame.opaque).toBe(inits[i].opaque);
          expect(frame.header).toEqual(inits[i].header);
          expect(frame.body.equals(inits[i].body as Buffer)).toBe(true);
          expect(decodeFrame(encodeFrame(inits[i])).header).toEqual(inits[i].header);
        });
      }),
      { numRuns: NUM_RUNS }
    );
  });

  it('random bytes only ever yield frames or ProtocolError, independently of chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), cutsArb, cutsArb, (bytes, cutsA, cutsB) => {
        const stream = Buffer.from(bytes);
        expect(summary(feed(stream, cutsA))).toEqual(summary(feed(stream, cutsB)));
      }),
      { numRuns: NUM_RUNS }
    );
  });

  it('random bytes behind a plausible prefix only yield frames or ProtocolError', () => {
    // Random data rarely gets past the length and version checks; this reaches the msgpack header decoder.
    const arb = fc.record({
      flags: fc.integer({ min: 0, max: 3 }),
      header: fc.uint8Array({ maxLength: 200 }),
      body: fc.uint8Array({ maxLength: 50 }),
      headerLengthDelta: fc.integer({ min: -2, max: 2 }),
    });
    fc.assert(
      fc.property(arb, cutsArb, ({ flags, header, body, headerLengthDelta }, cuts) => {
        const prefix = Buffer.alloc(16);
        prefix.writeUInt32BE(12 + header.length + body.length, 0);
        prefix[4] = 1;
        prefix[5] = flags;
        prefix.writeUInt32BE(Math.max(0, header.length + headerLengthDelta), 12);
        const stream = Buffer.concat([prefix, header, body]);
        feed(stream, cuts);
        try {
          decodeFrame(stream);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: NUM_RUNS }
    );
  });

  it('mutated valid frames only yield frames or ProtocolError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      })
    );
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 3 }),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        cutsArb,
        (inits, mutations, cuts) => {
          let stream = Buffer.concat(inits.map((f) => encodeFrame(f)));
          for (const m of mutations) {
            const at = m.at % (stream.length + 1);
            if (m.kind === 'set') {
              if (stream.length > 0) stream[at % stream.length] = m.value;
            } else if (m.kind === 'cut') {
              stream = stream.subarray(0, at);
            } else {
              stream = Buffer.concat([stream.subarray(0, at), m.bytes, stream.subarray(at)]);
            }
          }
          expect(summary(feed(stream, cuts))).toEqual(summary(feed(stream, [])));
        }
      ),
      { numRuns: NUM_RUNS }
    );
  });

  it('rejects an attacker-chosen huge length after exactly 4 bytes, before buffering anything', () => {
    fc.assert(
      fc.property(fc.integer({ min: DEFAULT_MAX_FRAME_BYTES - 3, max: 0xffff_ffff }), (frameLength) => {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(frameLength, 0);
        const decoder = new FrameDecoder();
        expect(decoder.push(prefix.subarray(0, 3))).toEqual([]);
        let thrown: unknown;
        try {
          decoder.push(prefix.subarray(3));
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(ProtocolError);
        expect((thrown as ProtocolError).code).toBe(ProtocolErrorCode.FRAME_LENGTH_INVALID);
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: NUM_RUNS }
    );
  });

  it('rejects a length below the minimum after exactly 4 bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: FRAME_MIN_LENGTH - 1 }),
        fc.uint8Array({ maxLength: 32 }),
        (frameLength, rest) => {
          const stream = Buffer.concat([Buffer.alloc(4), rest]);
          stream.writeUInt32BE(frameLength, 0);
          expect(feed(stream, [4]).error).toBe(ProtocolErrorCode.FRAME_LENGTH_INVALID);
        }
      ),
      { numRuns: 100 }
    );
  });

  it('a 2^31 length prefix throws on the 4th byte', () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.from([0x80]))).toEqual([]);
    expect(decoder.push(Buffer.from([0x00, 0x00]))).toEqual([]);
    expect(() => decoder.push(Buffer.from([0x00]))).toThrow(ProtocolError);
  });
});
