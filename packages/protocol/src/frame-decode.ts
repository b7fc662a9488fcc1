import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { FRAME_LENGTH_FIELD_BYTES } from './frame.js';
import type { Frame, FrameDecodeOptions } from './frame.js';
import { checkFixedFields, checkFrameLength, readFrameSections, resolveMaxFrameBytes } from './frame-validate.js';

/**
 * Decodes one complete frame occupying all of `bytes`. For a TCP stream use FrameDecoder instead.
 * The returned header's binary values and body are views into `bytes`, not copies.
 */
export function decodeFrame(bytes: Uint8Array, options: FrameDecodeOptions = {}): Frame {
  const maxFrameBytes = resolveMaxFrameBytes(options.maxFrameBytes);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FRAME_LENGTH_FIELD_BYTES) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_TRUNCATED, `frame of ${buf.length} bytes has no length field`);
  }
  const frameLength = buf.readUInt32BE(0);
  checkFrameLength(frameLength, maxFrameBytes);
  const frameBytes = FRAME_LENGTH_FIELD_BYTES + frameLength;
  if (buf.length < frameBytes) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_TRUNCATED,
      `frame declares ${frameBytes} bytes but only ${buf.length} are present`
    );
  }
  if (buf.length > frameBytes) {
    throw new ProtocolError(
      ProtocolErrorCode.FRAME_MALFORMED,
      `frame declares ${frameBytes} bytes but is followed by ${buf.length - frameBytes} more`
    );
  }
  // frameLength >= FRAME_MIN_LENGTH guarantees the whole fixed prefix is present.
  checkFixedFields(buf, 0, frameLength);
  return readFrameSections(buf);
}
