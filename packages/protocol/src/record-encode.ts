import { crc32Range } from './crc32-range.js';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { writeHost } from './host.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PROPERTIES_BYTES, MAX_PROPERTY_NAME_BYTES, MAX_TAGS_BYTES } from './limits.js';
import type { Message } from './message.js';
import { SYSTEM_PROPERTY_PREFIX, SystemProperty } from './message.js';
import { writeMessageId } from './message-id.js';
import { validateTopicName } from './names.js';
import { KEY_SEPARATOR, RECORD_HEADER_BYTES, RECORD_MAGIC, RECORD_VERSION, RecordField, RecordFlag } from './record-layout.js';
import { putU16BE, putU32BE } from './u32.js';
import { writeU64 } from './u64.js';

export interface EncodeOptions {
  maxBodyBytes?: number;
  maxPropertiesBytes?: number;
  /** Allow `%`-prefixed system topics (brokers re-publishing retries, DLQ, timers). */
  allowSystemTopic?: boolean;
  /** Extra system properties (`$`-prefixed names). */
  systemProperties?: Readonly<Record<string, string>>;
  flags?: number;
  queueId?: number;
  reconsumeTimes?: number;
  preparedTxOffset?: number;
  bornTimestamp?: number;
  bornHost?: { address: string; port: number };
  /** Reuse an existing id (re-publishing a message keeps its identity). */
  msgId?: Buffer;
  /** Where the record's bytes come from (default Buffer.allocUnsafe); must return exactly `size` bytes. */
  allocate?: (size: number) => Buffer;
}

const USER_PROPERTY_NAME = /^[A-Za-z0-9_.-]+$/;
const SYSTEM_PROPERTY_NAME = /^\$[A-Za-z0-9_.-]+$/;

function invalid(message: string): never {
  throw new ProtocolError(ProtocolErrorCode.MESSAGE_INVALID, message);
}

const NO_PROPERTIES: [string, string][] = [];

function collectProperties(message: Message, options: EncodeOptions): [string, string][] {
  // Most messages carry no properties at all: no array, no Object.entries.
  if (
    message.properties === undefined &&
    message.shardingKey === undefined &&
    message.delayMs === undefined &&
    message.deliverAt === undefined &&
    options.systemProperties === undefined
  ) {
    return NO_PROPERTIES;
  }
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(message.properties ?? {})) {
    if (!USER_PROPERTY_NAME.test(name) || name.length > MAX_PROPERTY_NAME_BYTES) {
      invalid(`property name ${JSON.stringify(name)} must be 1-${MAX_PROPERTY_NAME_BYTES} letters, digits, '_', '-' or '.'`);
    }
    if (typeof value !== 'string') invalid(`property ${JSON.stringify(name)} must be a string`);
    entries.push([name, value]);
  }
  if (message.shardingKey !== undefined) entries.push([SystemProperty.SHARDING_KEY, String(message.shardingKey)]);
  if (message.delayMs !== undefined) {
    if (!Number.isFinite(message.delayMs)) invalid(`delayMs must be a finite number, got ${message.delayMs}`);
    entries.push([SystemProperty.DELAY_MS, String(Math.trunc(message.delayMs))]);
  }
  if (message.deliverAt !== undefined) {
    const at = message.deliverAt instanceof Date ? message.deliverAt.getTime() : message.deliverAt;
    if (!Number.isFinite(at)) invalid(`deliverAt must be a valid time, got ${String(message.deliverAt)}`);
    entries.push([SystemProperty.DELIVER_AT, String(Math.trunc(at))]);
  }
  for (const [name, value] of Object.entries(options.systemProperties ?? {})) {
    // ASCII only: names are written one byte per character.
    if (!name.startsWith(SYSTEM_PROPERTY_PREFIX) || name.length > MAX_PROPERTY_NAME_BYTES || !SYSTEM_PROPERTY_NAME.test(name)) {
      invalid(`system property name ${JSON.stringify(name)} must be '${SYSTEM_PROPERTY_PREFIX}' and 1-${MAX_PROPERTY_NAME_BYTES - 1} letters, digits, '_', '-' or '.'`);
    }
    entries.push([name, value]);
  }
  return entries;
}

function keysOf(keys: Message['keys']): string {
  if (keys === undefined) return '';
  if (typeof keys === 'string' && keys.length > 0 && !keys.includes(KEY_SEPARATOR)) return keys;
  const list = typeof keys === 'string' ? [keys] : keys;
  for (const key of list) {
    if (typeof key !== 'string' || key.length === 0 || key.includes(KEY_SEPARATOR)) {
      invalid(`message keys must be non-empty strings without U+001F, got ${JSON.stringify(key)}`);
    }
  }
  return list.join(KEY_SEPARATOR);
}

/** Topic names that passed validation last (producers send to few topics): skips the name check per message. */
let lastValidTopic = '';
let lastValidSystemTopic = '';

function checkTopic(topic: string, allowSystem: boolean): void {
  if (topic === (allowSystem ? lastValidSystemTopic : lastValidTopic) && topic !== '') return;
  validateTopicName(topic, { allowSystem });
  if (allowSystem) lastValidSystemTopic = topic;
  else lastValidTopic = topic;
}

const fillBytes = Uint8Array.prototype.fill;

function isU32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

/**
 * Encodes a message into one record: validates every field, computes the body CRC and leaves the
 * store-owned fields zero. Throws ProtocolError with a precise code for any invalid input.
 */
export function encodeRecord(message: Message, options: EncodeOptions = {}): Buffer {
  const topic = message.topic;
  checkTopic(topic, options.allowSystemTopic ?? false);
  const body = typeof message.body === 'string' ? Buffer.from(message.body, 'utf8') : message.body;
  if (!(body instanceof Uint8Array)) invalid('message body must be a string, Buffer or Uint8Array');
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (body.length > maxBody) {
    throw new ProtocolError(ProtocolErrorCode.MESSAGE_TOO_LARGE, `message body is ${body.length} bytes; the maximum is ${maxBody}`);
  }
  const tags = message.tags ?? '';
  if (typeof tags !== 'string') invalid('message tags must be a string');
  const tagsBytes = tags.length === 0 ? 0 : Buffer.byteLength(tags, 'utf8');
  if (tagsBytes > MAX_TAGS_BYTES) invalid(`message tags are ${tagsBytes} bytes; the maximum is ${MAX_TAGS_BYTES}`);
  const keys = keysOf(message.keys);
  const keysBytes = keys.length === 0 ? 0 : Buffer.byteLength(keys, 'utf8');
  const properties = collectProperties(message, options);
  let propertiesBytes = 0;
  // Property names are ASCII (checked in collectProperties): one byte per character.
  for (const [name, value] of properties) propertiesBytes += 1 + name.length + 2 + Buffer.byteLength(value, 'utf8');
  const trailerBytes = 1 + topic.length + 1 + tagsBytes + 2 + keysBytes + 2 + propertiesBytes;
  const maxProperties = options.maxPropertiesBytes ?? DEFAULT_MAX_PROPERTIES_BYTES;
  if (trailerBytes > maxProperties) {
    throw new ProtocolError(
      ProtocolErrorCode.PROPERTIES_TOO_LARGE,
      `topic, tags, keys and properties take ${trailerBytes} bytes; the maximum is ${maxProperties}`,
    );
  }

  const queueId = options.queueId ?? 0;
  const reconsumeTimes = options.reconsumeTimes ?? 0;
  if (!isU32(queueId)) invalid(`queueId must be an integer in [0, 2^32), got ${queueId}`);
  if (!isU32(reconsumeTimes)) invalid(`reconsumeTimes must be an integer in [0, 2^32), got ${reconsumeTimes}`);
  const bodyLength = body.length;
  const total = RECORD_HEADER_BYTES + bodyLength + trailerBytes;
  // Not zero-filled: the header is zeroed here (store-owned and unset fields must read 0), the body is
  // copied over, and every trailer byte is written below, so no stale bytes remain. Byte stores and the typed-array
  // builtins instead of Buffer#fill / writeUInt*: their argument checks cost more than the work (once per message).
  const buf = options.allocate ? options.allocate(total) : Buffer.allocUnsafe(total);
  if (buf.length !== total) throw new RangeError(`allocate(${total}) returned ${buf.length} bytes`);
  fillBytes.call(buf, 0, 0, RecordField.BODY);
  putU32BE(buf, RecordField.TOTAL_SIZE, total);
  putU16BE(buf, RecordField.MAGIC, RECORD_MAGIC);
  buf[RecordField.VERSION] = RECORD_VERSION;
  buf[RecordField.FLAGS] = (options.flags ?? 0) | (message.delayMs !== undefined || message.deliverAt !== undefined ? RecordFlag.DELAYED : 0);
  putU32BE(buf, RecordField.BODY_CRC, crc32Range(body, 0, bodyLength));
  // One clock read for the id and the born time (Date.now() costs ~90 ns here).
  const now = options.msgId && options.bornTimestamp !== undefined ? 0 : Date.now();
  if (options.msgId) options.msgId.copy(buf, RecordField.MSG_ID);
  else writeMessageId(buf, RecordField.MSG_ID, now);
  putU32BE(buf, RecordField.QUEUE_ID, queueId);
  writeU64(buf, RecordField.BORN_TIMESTAMP, options.bornTimestamp ?? now);
  if (options.bornHost) writeHost(buf, RecordField.BORN_HOST, options.bornHost.address, options.bornHost.port);
  putU32BE(buf, RecordField.RECONSUME_TIMES, reconsumeTimes);
  writeU64(buf, RecordField.PREPARED_TX_OFFSET, options.preparedTxOffset ?? 0);
  putU32BE(buf, RecordField.BODY_LENGTH, bodyLength);
  buf.set(body, RecordField.BODY);

  let at = RecordField.BODY + bodyLength;
  buf[at++] = topic.length;
  // Topic names are validated ASCII.
  for (let i = 0; i < topic.length; i++) buf[at++] = topic.charCodeAt(i);
  buf[at++] = tagsBytes;
  if (tagsBytes > 0) at += buf.write(tags, at, 'utf8');
  putU16BE(buf, at, keysBytes);
  at += 2;
  if (keysBytes > 0) at += buf.write(keys, at, 'utf8');
  putU16BE(buf, at, propertiesBytes);
  at += 2;
  for (const [name, value] of properties) {
    buf[at++] = name.length;
    for (let i = 0; i < name.length; i++) buf[at++] = name.charCodeAt(i);
    // The value first, then its length in front of it: write() returns the byte count, no second UTF-8 scan.
    const valueBytes = buf.write(value, at + 2, 'utf8');
    putU16BE(buf, at, valueBytes);
    at += 2 + valueBytes;
  }
  // The buffer was not zero-filled: every trailer byte must have been written.
  if (at !== total) throw new Error(`record encoder wrote ${at} of ${total} bytes`);
  return buf;
}
