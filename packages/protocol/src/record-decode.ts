import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { readHost } from './host.js';
import type { ReceivedMessage } from './message.js';
import { SYSTEM_PROPERTY_PREFIX } from './message.js';
import { readMessageId } from './message-id.js';
import { KEY_SEPARATOR, RecordField } from './record-layout.js';
import type { RecordSections } from './record-sections.js';
import { readRecordSections } from './record-sections.js';
import { readU64 } from './u64.js';

/** Reads the properties section into user and system maps. */
export function readRecordProperties(
  buf: Buffer,
  sections: RecordSections,
): { properties: Record<string, string>; systemProperties: Record<string, string> } {
  const properties: Record<string, string> = {};
  const systemProperties: Record<string, string> = {};
  let at = sections.propertiesStart;
  const end = at + sections.propertiesLength;
  while (at < end) {
    const nameLength = buf[at]!;
    const nameEnd = at + 1 + nameLength;
    if (nameEnd + 2 > end) throw new ProtocolError(ProtocolErrorCode.RECORD_MALFORMED, 'property name overruns the properties section');
    const name = buf.toString('latin1', at + 1, nameEnd);
    const valueLength = buf.readUInt16BE(nameEnd);
    const valueEnd = nameEnd + 2 + valueLength;
    if (valueEnd > end) throw new ProtocolError(ProtocolErrorCode.RECORD_MALFORMED, 'property value overruns the properties section');
    const value = buf.toString('utf8', nameEnd + 2, valueEnd);
    if (name.startsWith(SYSTEM_PROPERTY_PREFIX)) systemProperties[name] = value;
    else properties[name] = value;
    at = valueEnd;
  }
  return { properties, systemProperties };
}

export function readRecordTopic(buf: Buffer, sections: RecordSections): string {
  return buf.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength);
}

export function readRecordKeys(buf: Buffer, sections: RecordSections): string[] {
  if (sections.keysLength === 0) return [];
  return buf.toString('utf8', sections.keysStart, sections.keysStart + sections.keysLength).split(KEY_SEPARATOR);
}

/**
 * Decodes the record at `offset` into a message. The body is a view of `buf`, not a copy: keep the
 * buffer alive (or copy the body) if the message outlives it.
 */
export function decodeRecord(buf: Buffer, offset = 0, end = buf.length): ReceivedMessage {
  // Size limits are enforced where records are accepted; a decoder reads whatever was legitimately stored.
  const sections = readRecordSections(buf, offset, end, undefined, Number.MAX_SAFE_INTEGER);
  const { properties, systemProperties } = readRecordProperties(buf, sections);
  return {
    msgId: readMessageId(buf, offset + RecordField.MSG_ID),
    topic: readRecordTopic(buf, sections),
    queueId: buf.readUInt32BE(offset + RecordField.QUEUE_ID),
    queueOffset: readU64(buf, offset + RecordField.QUEUE_OFFSET),
    commitLogOffset: readU64(buf, offset + RecordField.COMMIT_LOG_OFFSET),
    body: buf.subarray(sections.bodyStart, sections.bodyStart + sections.bodyLength),
    tags: sections.tagsLength ? buf.toString('utf8', sections.tagsStart, sections.tagsStart + sections.tagsLength) : undefined,
    keys: readRecordKeys(buf, sections),
    properties,
    systemProperties,
    flags: buf[offset + RecordField.FLAGS]!,
    bornTimestamp: readU64(buf, offset + RecordField.BORN_TIMESTAMP),
    storeTimestamp: readU64(buf, offset + RecordField.STORE_TIMESTAMP),
    bornHost: readHost(buf, offset + RecordField.BORN_HOST),
    storeHost: readHost(buf, offset + RecordField.STORE_HOST),
    reconsumeTimes: buf.readUInt32BE(offset + RecordField.RECONSUME_TIMES),
    preparedTxOffset: readU64(buf, offset + RecordField.PREPARED_TX_OFFSET),
  };
}
