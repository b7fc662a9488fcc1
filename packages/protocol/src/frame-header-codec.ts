import { Packr } from 'msgpackr';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import type { FrameHeader } from './frame.js';

/**
 * The one msgpack codec for frame headers. Records are off so every header is a self-describing map any
 * msgpack peer can read; structured-clone extensions are off so untrusted input cannot build cycles or
 * shared references.
 */
const headerPackr = new Packr({ useRecords: false, mapsAsObjects: true, structuredClone: false });

const EMPTY = Buffer.alloc(0);

/** Encodes a header; an empty header takes zero bytes on the wire. */
export function packFrameHeader(header: FrameHeader | undefined): Buffer {
  if (header === undefined || isEmptyObject(header)) return EMPTY;
  return headerPackr.pack(header);
}

/** Decodes header bytes from an untrusted peer; anything but a map of plain msgpack values is FRAME_MALFORMED. */
export function unpackFrameHeader(bytes: Buffer): FrameHeader {
  if (bytes.length === 0) return {};
  let value: unknown;
  try {
    value = headerPackr.unpack(bytes);
  } catch (error) {
    // msgpackr throws plain Errors, RangeErrors (deep nesting) and TypeErrors (bad extensions) alike.
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame header is not valid msgpack', { cause: error });
  }
  if (!isPlainObject(value)) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame header is not a msgpack map');
  }
  if (!hasOnlyHeaderValues(value, 0)) {
    throw new ProtocolError(ProtocolErrorCode.FRAME_MALFORMED, 'frame header holds an unsupported value type');
  }
  return value as FrameHeader;
}

/** Headers are small; deeper nesting is never legitimate and would only risk stack exhaustion. */
const MAX_HEADER_DEPTH = 32;

/** Keeps the FrameHeaderValue type honest: msgpackr extensions can also yield Sets, RegExps, Errors, etc. */
function hasOnlyHeaderValues(object: Record<string, unknown>, depth: number): boolean {
  for (const key in object) {
    if (!isHeaderValue(object[key], depth + 1)) return false;
  }
  return true;
}

function isHeaderValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'undefined':
      return true;
    case 'object':
      if (value === null || value instanceof Uint8Array || value instanceof Date) return true;
      if (depth >= MAX_HEADER_DEPTH) return false;
      if (Array.isArray(value)) {
        for (const item of value as unknown[]) if (!isHeaderValue(item, depth + 1)) return false;
        return true;
      }
      return isPlainObject(value) && hasOnlyHeaderValues(value, depth);
    default:
      return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isEmptyObject(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return false;
  return true;
}
