import { FRAME_LENGTH_FIELD_BYTES, FRAME_PREFIX_BYTES } from './frame.js';
import type { Frame, FrameDecodeOptions } from './frame.js';
import { checkFixedFields, checkFrameLength, readFrameSections, resolveMaxFrameBytes } from './frame-validate.js';

/**
 * Incremental frame decoder for one TCP connection's byte stream.
 *
 * Chunks are queued as received and copied at most once, when a frame that spans several of them is
 * complete; a frame inside a single chunk is a view of it. The length prefix is checked as soon as its 4
 * bytes arrive and the fixed fields as soon as theirs do, so a hostile length or garbage stream is rejected
 * before anything is buffered for it. Any ProtocolError poisons the decoder: the stream has lost framing,
 * every later call rethrows the same error and the connection should be closed.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;

  #chunks: Buffer[] = [];
  /** Read position inside #chunks[0]. */
  #offset = 0;
  #buffered = 0;
  /** Size (length field included) of the frame being assembled; 0 until its length field is read. */
  #frameBytes = 0;
  #prefixChecked = false;
  #error: unknown = undefined;
  #failed = false;
  readonly #scratch = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
  /** Offset in the buffer last returned by #peek where the peeked bytes start. */
  #peekOffset = 0;

  constructor(options: FrameDecodeOptions = {}) {
    this.maxFrameBytes = resolveMaxFrameBytes(options.maxFrameBytes);
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The error that poisoned this decoder, if any. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Feeds a chunk and returns the frames it completed (possibly none). Throws a ProtocolError on bad
   * input; frames completed earlier in the same chunk are then dropped, as the connection is closing.
   */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    this.write(chunk, (frame) => frames.push(frame));
    return frames;
  }

  /**
   * Feeds a chunk and calls `onFrame` for each completed frame, in order, without collecting them.
   * If `onFrame` throws, the error propagates and the decoder stays usable: later frames of this chunk
   * stay buffered and are delivered by the next call.
   */
  write(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.#failed) throw this.#error;
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#buffered += chunk.length;
    }
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = this.#next();
      } catch (error) {
        this.#poison(error);
        throw error;
      }
      if (frame === undefined) return;
      onFrame(frame);
    }
  }

  /** Returns the next complete frame, or undefined if more bytes are needed. */
  #next(): Frame | undefined {
    if (this.#frameBytes === 0) {
      if (this.#buffered < FRAME_LENGTH_FIELD_BYTES) return undefined;
      const frameLength = this.#peek(FRAME_LENGTH_FIELD_BYTES).readUInt32BE(this.#peekOffset);
      checkFrameLength(frameLength, this.maxFrameBytes);
      this.#frameBytes = FRAME_LENGTH_FIELD_BYTES + frameLength;
    }
    if (!this.#prefixChecked) {
      // Every valid frame is at least FRAME_PREFIX_BYTES long, so this wait cannot overrun the frame.
      if (this.#buffered < FRAME_PREFIX_BYTES) return undefined;
      const prefix = this.#peek(FRAME_PREFIX_BYTES);
      checkFixedFields(prefix, this.#peekOffset, this.#frameBytes - FRAME_LENGTH_FIELD_BYTES);
      this.#prefixChecked = true;
    }
    if (this.#buffered < this.#frameBytes) return undefined;
    const bytes = this.#take(this.#frameBytes);
    this.#frameBytes = 0;
    this.#prefixChecked = false;
    return readFrameSections(bytes);
  }

  /** Makes the first `n` (<= FRAME_PREFIX_BYTES) unread bytes contiguous without consuming them. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length - this.#offset >= n) {
      this.#peekOffset = this.#offset;
      return first;
    }
    let copied = 0;
    let offset = this.#offset;
    for (let i = 0; copied < n; i++, offset = 0) {
      copied += this.#chunks[i].copy(
        this.#scratch,
        copied,
        offset,
        Math.min(this.#chunks[i].length, offset + n - copied)
      );
    }
    this.#peekOffset = 0;
    return this.#scratch;
  }

  /** Consumes the next `n` bytes: a view when one chunk holds them all, else one copy. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) this.#dropHead();
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.#chunks[0];
      const end = Math.min(chunk.length, this.#offset + n - copied);
      copied += chunk.copy(out, copied, this.#offset, end);
      this.#offset = end;
      if (end === chunk.length) this.#dropHead();
    }
    return out;
  }

  #dropHead(): void {
    // Array#shift is O(1) in V8 for these small arrays (the backing store is trimmed in place).
    this.#chunks.shift();
    this.#offset = 0;
  }

  #poison(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    // Release what was buffered: the stream is unusable and the connection is about to close.
    this.#chunks = [];
    this.#offset = 0;
    this.#buffered = 0;
  }
}
