import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { DEFAULT_MAX_BODY_BYTES } from './limits.js';
import { MIN_RECORD_BYTES, RECORD_MAGIC, RECORD_VERSION, RecordField } from './record-layout.js';

/** Absolute positions of a record's variable sections inside its buffer. */
export interface RecordSections {
  totalSize: number;
  bodyStart: number;
  bodyLength: number;
  topicStart: number;
  topicLength: number;
  tagsStart: number;
  tagsLength: number;
  keysStart: number;
  keysLength: number;
  propertiesStart: number;
  propertiesLength: number;
}

export function emptySections(): RecordSections {
  return {
    totalSize: 0, bodyStart: 0, bodyLength: 0, topicStart: 0, topicLength: 0, tagsStart: 0, tagsLength: 0,
    keysStart: 0, keysLength: 0, propertiesStart: 0, propertiesLength: 0,
  };
}

function malformed(offset: number, problem: string): never {
  throw new ProtocolError(ProtocolErrorCode.RECORD_MALFORMED, `record at byte ${offset}: ${problem}`);
}

/**
 * Checks that the record starting at `offset` is structurally sound inside `buf[offset, end)` and
 * fills `out` with its section positions (pass a reused object to avoid an allocation per record).
 * Every length is checked against the bytes actually present before it is used.
 */
export function readRecordSections(
  buf: Buffer,
  offset: number,
  end: number = buf.length,
  out: RecordSections = emptySections(),
  maxBodyBytes: number = DEFAULT_MAX_BODY_BYTES,
): RecordSections {
  const available = end - offset;
  if (available < MIN_RECORD_BYTES) malformed(offset, `only ${available} bytes, a record needs at least ${MIN_RECORD_BYTES}`);
  if (buf.readUInt16BE(offset + RecordField.MAGIC) !== RECORD_MAGIC) malformed(offset, 'bad magic');
  if (buf[offset + RecordField.VERSION] !== RECORD_VERSION) malformed(offset, `unsupported version ${buf[offset + RecordField.VERSION]}`);
  const bodyLength = buf.readUInt32BE(offset + RecordField.BODY_LENGTH);
  if (bodyLength > maxBodyBytes) {
    throw new ProtocolError(ProtocolErrorCode.MESSAGE_TOO_LARGE, `record at byte ${offset}: body is ${bodyLength} bytes; the maximum is ${maxBodyBytes}`);
  }
  locateSections(buf, offset, end, out);
  if (out.topicLength === 0) malformed(offset, 'topic overruns the record');
  // Walk the properties once here so every reader can decode them: a record that passes this check never
  // fails later in decodeRecord (a consumer would otherwise have to skip an acknowledged message).
  const recordEnd = offset + out.totalSize;
  let property = out.propertiesStart;
  while (property < recordEnd) {
    const valueLengthAt = property + 1 + buf[property]!;
    if (buf[property] === 0 || valueLengthAt + 2 > recordEnd) malformed(offset, 'a property name overruns the properties section');
    property = valueLengthAt + 2 + buf.readUInt16BE(valueLengthAt);
    if (property > recordEnd) malformed(offset, 'a property value overruns the properties section');
  }
  return out;
}

/**
 * Fills `out` for a record whose bytes already passed `readRecordSections` (the same bytes, unchanged since):
 * reads the section lengths without walking the properties again. The cheap checks that keep every position
 * inside the record stay, so bytes changed in between fail as RECORD_MALFORMED instead of being misread.
 */
export function readCheckedSections(buf: Buffer, offset: number, out: RecordSections): RecordSections {
  return locateSections(buf, offset, buf.length, out);
}

/** The walk both share: declared size, then each section's length checked against the record's end. */
function locateSections(buf: Buffer, offset: number, end: number, out: RecordSections): RecordSections {
  const available = end - offset;
  const totalSize = available >= MIN_RECORD_BYTES ? buf.readUInt32BE(offset + RecordField.TOTAL_SIZE) : 0;
  if (totalSize < MIN_RECORD_BYTES || totalSize > available) malformed(offset, `declared size ${totalSize} is outside [${MIN_RECORD_BYTES}, ${available}]`);
  const recordEnd = offset + totalSize;
  const bodyStart = offset + RecordField.BODY;
  const bodyLength = buf.readUInt32BE(offset + RecordField.BODY_LENGTH);
  let at = bodyStart + bodyLength;
  if (at + 6 > recordEnd) malformed(offset, 'body overruns the record');
  const topicLength = buf[at]!;
  const topicStart = at + 1;
  at = topicStart + topicLength;
  if (at + 5 > recordEnd) malformed(offset, 'topic overruns the record');
  const tagsLength = buf[at]!;
  const tagsStart = at + 1;
  at = tagsStart + tagsLength;
  if (at + 4 > recordEnd) malformed(offset, 'tags overrun the record');
  const keysLength = (buf[at]! << 8) | buf[at + 1]!;
  const keysStart = at + 2;
  at = keysStart + keysLength;
  if (at + 2 > recordEnd) malformed(offset, 'keys overrun the record');
  const propertiesLength = (buf[at]! << 8) | buf[at + 1]!;
  const propertiesStart = at + 2;
  if (propertiesStart + propertiesLength !== recordEnd) malformed(offset, 'sections do not add up to the declared size');
  out.totalSize = totalSize;
  out.bodyStart = bodyStart;
  out.bodyLength = bodyLength;
  out.topicStart = topicStart;
  out.topicLength = topicLength;
  out.tagsStart = tagsStart;
  out.tagsLength = tagsLength;
  out.keysStart = keysStart;
  out.keysLength = keysLength;
  out.propertiesStart = propertiesStart;
  out.propertiesLength = propertiesLength;
  return out;
}

/**
 * Whether `buf[a, a + length)` and `buf[b, b + length)` hold the same bytes. For the short ranges it is used on
 * (topic names, at most 255 bytes) a loop is cheaper than Buffer.compare's argument checks and native call.
 */
export function rangesEqual(buf: Uint8Array, a: number, b: number, length: number): boolean {
  if (a === b) return true;
  for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}
