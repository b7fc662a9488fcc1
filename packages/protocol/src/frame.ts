/**
 * Frame layout of the LiteMQ TCP protocol (all integers big-endian):
 *
 *   u32 frameLength (bytes after this field) | u8 version | u8 flags | u16 code | u32 opaque |
 *   u32 headerLength | header (msgpack map) | body (raw bytes)
 *
 * One connection multiplexes many requests; a response carries its request's `opaque`.
 */

/** The only frame version this build speaks. */
export const FRAME_VERSION = 1;

/** Bits of the `flags` byte. A request sets neither bit. */
export const FrameFlag = {
  /** The frame answers the request with the same `opaque`; `code` is a ResponseCode. */
  RESPONSE: 1,
  /** The sender expects no response; `code` is a RequestCode. */
  ONEWAY: 2,
} as const;

export type FrameFlag = (typeof FrameFlag)[keyof typeof FrameFlag];

/** Flags of a plain request (no bit set). */
export const FRAME_FLAGS_REQUEST = 0;
/** Every flag bit this build understands; frames with other bits set are rejected. */
export const FRAME_KNOWN_FLAGS = FrameFlag.RESPONSE | FrameFlag.ONEWAY;

/** Size of the `frameLength` field. */
export const FRAME_LENGTH_FIELD_BYTES = 4;
/** Fixed fields counted by `frameLength`: version, flags, code, opaque, headerLength. */
export const FRAME_FIXED_FIELDS_BYTES = 1 + 1 + 2 + 4 + 4;
/** Bytes before the header: the length field plus the fixed fields. */
export const FRAME_PREFIX_BYTES = FRAME_LENGTH_FIELD_BYTES + FRAME_FIXED_FIELDS_BYTES;
/** Smallest valid `frameLength` (empty header and body). */
export const FRAME_MIN_LENGTH = FRAME_FIXED_FIELDS_BYTES;
/** Largest `frameLength` the u32 field can express. */
export const FRAME_MAX_LENGTH_FIELD = 0xffff_ffff;

/**
 * Default cap on a whole frame (prefix included): a 16 MiB body plus 64 KiB for the prefix and header.
 * Larger frames are rejected from their first 4 bytes and the connection should be closed.
 */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024;

/** Limits applied when decoding frames from a peer. */
export interface FrameDecodeOptions {
  /** Largest accepted frame in bytes, length field included. Defaults to DEFAULT_MAX_FRAME_BYTES. */
  readonly maxFrameBytes?: number;
}

/** Byte offsets of the fixed fields from the start of a frame. */
export const FrameOffset = {
  FRAME_LENGTH: 0,
  VERSION: 4,
  FLAGS: 5,
  CODE: 6,
  OPAQUE: 8,
  HEADER_LENGTH: 12,
  HEADER: FRAME_PREFIX_BYTES,
} as const;

/**
 * A value a frame header may hold: what msgpack round-trips faithfully. Integers beyond 2^53 travel as
 * `bigint` (msgpack int64/uint64) and come back as `bigint`; binary comes back as a `Buffer`.
 */
export type FrameHeaderValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Date
  | Uint8Array
  | readonly FrameHeaderValue[]
  | FrameHeader;

/**
 * A frame header: a small msgpack map of named fields. Declare header shapes with `type` aliases, not
 * `interface`s: TypeScript only gives aliases the implicit index signature this type needs.
 */
export type FrameHeader = { readonly [key: string]: FrameHeaderValue };

/** A decoded frame. */
export interface Frame {
  readonly version: number;
  /** Bitmask of FrameFlag. */
  readonly flags: number;
  /** RequestCode for requests and oneway frames, ResponseCode for responses. */
  readonly code: number;
  /** Correlates a response with its request (u32). */
  readonly opaque: number;
  readonly header: FrameHeader;
  /** Raw body bytes; a view into the received frame, not a copy. */
  readonly body: Buffer;
}

/** Body of a frame to encode: one buffer or several that are sent back to back (never concatenated). */
export type FrameBodyInput = Uint8Array | readonly Uint8Array[];

/** What `encodeFrame` needs; the version is always FRAME_VERSION. */
export interface FrameInit {
  /** Bitmask of FrameFlag; defaults to a request (0). */
  readonly flags?: number;
  readonly code: number;
  readonly opaque: number;
  /** Defaults to an empty header. */
  readonly header?: FrameHeader;
  /** Defaults to an empty body. */
  readonly body?: FrameBodyInput;
}

export function isResponseFrame(frame: Pick<Frame, 'flags'>): boolean {
  return (frame.flags & FrameFlag.RESPONSE) !== 0;
}

export function isOnewayFrame(frame: Pick<Frame, 'flags'>): boolean {
  return (frame.flags & FrameFlag.ONEWAY) !== 0;
}

/** A request expecting a response: neither RESPONSE nor ONEWAY. */
export function isRequestFrame(frame: Pick<Frame, 'flags'>): boolean {
  return (frame.flags & FRAME_KNOWN_FLAGS) === 0;
}
