/** Internal checks shared by `decodeFrame` and `FrameDecoder`; not part of the package's public API. */
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_FIXED_FIELDS_BYTES,
  FRAME_KNOWN_FLAGS,
  FRAME_LENGTH_FIELD_BYTES,
  FRAME_MAX_LENGTH_FIELD,
  FRAME_MIN_LENGTH,
  FRAME_PREFIX_BYTES,
  FRAME_VERSION,
  FrameFlag,
  FrameOffset,
} from './frame.js';
import type { Frame } from './frame.js';
import { unpackFrameHeader } from './frame-header-codec.js';

/** Resolves and sanity-checks the `maxFrameBytes` option (a programming error, hence RangeError). */
export function resolveMaxFrameBytes(maxFrameBytes: number | undefined): number {
  if (maxFrameBytes === undefined) return DEFAULT_MAX_FRAME_BYTES;
  const upper = FRAME_LENGTH_FIELD_BYTES + FRAME_MAX_LENGTH_FIELD;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < FRAME_PREFIX_BYTES || maxFrameBytes > upper) {
    throw new RangeError(`maxFrameBytes must be an integer in [${FRAME_PREFIX_BYTES}, ${upper}], got ${maxFrameBytes}`);
  }
  return maxFrameBytes;
}

/** Checks a `frameLength` field before anything is buffered for it: the value is attacker-chosen. */
export function checkFrameLength(frameLength: number, maxFrameBytes: number): void {
  if (frameLength < FRAME_MIN_LENGTH) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_LENGTH_INVALID,
      `frame length ${frameLength} is below the minimum ${FRAME_MIN_LENGTH}`
    );
  }
  if (FRAME_LENGTH_FIELD_BYTES + frameLength > maxFrameBytes) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_LENGTH_INVALID,
      `frame of ${FRAME_LENGTH_FIELD_BYTES + frameLength} bytes exceeds the maximum of ${maxFrameBytes}`
    );
  }
}

/**
 * Checks version, flags and headerLength. `prefix` holds at least FRAME_PREFIX_BYTES bytes of the frame
 * from `offset`; `frameLength` has already passed `checkFrameLength`.
 */
export function checkFixedFields(prefix: Buffer, offset: number, frameLength: number): void {
  const version = prefix[offset + FrameOffset.VERSION];
  if (version !== FRAME_VERSION) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_VERSION_UNSUPPORTED,
      `frame version ${version} is not supported (expected ${FRAME_VERSION})`
    );
  }
  const flags = prefix[offset + FrameOffset.FLAGS];
  if ((flags & ~FRAME_KNOWN_FLAGS) !== 0) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, `frame flags 0x${flags.toString(16)} set unknown bits`);
  }
  if ((flags & FrameFlag.RESPONSE) !== 0 && (flags & FrameFlag.ONEWAY) !== 0) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'a frame cannot be both a response and oneway');
  }
  const headerLength = prefix.readUInt32BE(offset + FrameOffset.HEADER_LENGTH);
  if (headerLength > frameLength - FRAME_FIXED_FIELDS_BYTES) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_TRUNCATED,
      `frame header of ${headerLength} bytes does not fit in a frame of length ${frameLength}`
    );
  }
}

/** Splits a complete frame whose fixed fields passed `checkFixedFields`; the body is a view, not a copy. */
export function readFrameSections(frame: Buffer): Frame {
  const headerEnd = FRAME_PREFIX_BYTES + frame.readUInt32BE(FrameOffset.HEADER_LENGTH);
  return {
    version: frame[FrameOffset.VERSION],
    flags: frame[FrameOffset.FLAGS],
    code: frame.readUInt16BE(FrameOffset.CODE),
    opaque: frame.readUInt32BE(FrameOffset.OPAQUE),
    header: unpackFrameHeader(frame.subarray(FRAME_PREFIX_BYTES, headerEnd)),
    body: frame.subarray(headerEnd),
  };
}
