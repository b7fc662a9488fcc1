import { ProtocolError, ProtocolErrorCode } from './errors.js';
import {
  FRAME_FIXED_FIELDS_BYTES,
  FRAME_KNOWN_FLAGS,
  FRAME_MAX_LENGTH_FIELD,
  FRAME_PREFIX_BYTES,
  FRAME_VERSION,
  FrameFlag,
  FrameOffset,
} from './frame.js';
import type { FrameBodyInput, FrameInit } from './frame.js';
import { packFrameHeader } from './frame-header-codec.js';

/**
 * A frame split for writing: `head` is the length prefix, fixed fields and header in one small buffer;
 * `body` are the caller's body buffers, untouched. Write `head` then each body chunk (inside
 * `socket.cork()`/`uncork()`) so large bodies are never copied.
 */
export type EncodedFrameParts = readonly [head: Buffer, body: readonly Uint8Array[]];

/** Encodes a frame into one buffer (copies the body; prefer `encodeFrameParts` for large bodies). */
export function encodeFrame(frame: FrameInit): Buffer {
  const [head, body] = encodeFrameParts(frame);
  if (body.length === 0) return head;
  let length = head.length;
  for (const chunk of body) length += chunk.length;
  const out = Buffer.allocUnsafe(length);
  let offset = head.copy(out, 0);
  for (const chunk of body) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Encodes a frame's prefix and header, passing the body through without copying it. */
export function encodeFrameParts(frame: FrameInit): EncodedFrameParts {
  const flags = frame.flags ?? 0;
  checkUint('code', frame.code, 0xffff);
  checkUint('opaque', frame.opaque, 0xffff_ffff);
  checkFlags(flags);

  const header = packHeader(frame);
  const body = bodyChunks(frame.body);
  let bodyLength = 0;
  for (const chunk of body) bodyLength += chunk.length;
  const frameLength = FRAME_FIXED_FIELDS_BYTES + header.length + bodyLength;
  if (frameLength > FRAME_MAX_LENGTH_FIELD) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_LENGTH_INVALID,
      `frame length ${frameLength} does not fit in a u32`
    );
  }

  const head = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + header.length);
  head.writeUInt32BE(frameLength, FrameOffset.FRAME_LENGTH);
  head[FrameOffset.VERSION] = FRAME_VERSION;
  head[FrameOffset.FLAGS] = flags;
  head.writeUInt16BE(frame.code, FrameOffset.CODE);
  head.writeUInt32BE(frame.opaque, FrameOffset.OPAQUE);
  head.writeUInt32BE(header.length, FrameOffset.HEADER_LENGTH);
  header.copy(head, FrameOffset.HEADER);
  return [head, body];
}

function packHeader(frame: FrameInit): Buffer {
  try {
    return packFrameHeader(frame.header);
  } catch (error) {
    // e.g. a bigint beyond 64 bits: report it as a protocol error like every other bad frame field.
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame header cannot be encoded as msgpack', {
      cause: error,
    });
  }
}

function bodyChunks(body: FrameBodyInput | undefined): readonly Uint8Array[] {
  if (body === undefined) return [];
  if (body instanceof Uint8Array) return body.length === 0 ? [] : [body];
  return body.filter((chunk) => chunk.length > 0);
}

function checkUint(field: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_MALFORMED,
      `frame ${field} ${value} is not an integer in [0, ${max}]`
    );
  }
}

function checkFlags(flags: number): void {
  checkUint('flags', flags, 0xff);
  if ((flags & ~FRAME_KNOWN_FLAGS) !== 0 || flags === (FrameFlag.RESPONSE | FrameFlag.ONEWAY)) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, `frame flags 0x${flags.toString(16)} are invalid`);
  }
}
