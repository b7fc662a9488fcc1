import type { RecordSections } from '@litemq/protocol';
import {
  DEFAULT_MAX_PROPERTIES_BYTES, RecordField, RecordFlag, SystemProperty, TXN_CHECK_IMMUNITY_PROPERTY, decodeRecord, emptySections, encodeRecord, readMessageId,
  readRecordSections, writeMessageId, readU64, writeU64,
} from '@litemq/protocol';
import { OpType, TXN_HALF_TOPIC, TXN_OP_TOPIC, TXN_QUEUE_ID } from './constants.js';
import { TxnError, TxnErrorCode } from './errors.js';

function invalid(message: string): never {
  throw new TxnError(TxnErrorCode.HALF_INVALID, message);
}

const NO_EXTRA: ReadonlyArray<readonly [string, string]> = [];

interface Rebuild {
  topic: string;
  flags: number;
  queueId: number;
  preparedTxOffset: number;
  /** Properties of the source left out (by name). */
  drop: ReadonlySet<string>;
  /** Appended after the kept properties. */
  extra: ReadonlyArray<readonly [string, string]>;
}

/**
 * Re-targets a record without decoding it: the header is copied (message id, born time and host, body CRC) with
 * the store-owned fields cleared, the body is copied as bytes, tags and keys too, and only the properties are
 * filtered (by name) and extended. Same bytes as decode + encodeRecord would give, minus the per-field work and
 * the body CRC computation (the body is unchanged, so is its CRC).
 */
function rebuild(source: Buffer, sections: RecordSections, spec: Rebuild): Buffer {
  const { propertiesStart, propertiesLength } = sections;
  const propertiesEnd = propertiesStart + propertiesLength;
  // Pass 1: which properties are kept (as byte ranges) and how many bytes they take.
  const kept: number[] = [];
  let keptBytes = 0;
  for (let at = propertiesStart; at < propertiesEnd;) {
    const nameLength = source[at]!;
    const valueLengthAt = at + 1 + nameLength;
    const next = valueLengthAt + 2 + source.readUInt16BE(valueLengthAt);
    const name = source.toString('latin1', at + 1, valueLengthAt);
    if (!spec.drop.has(name)) {
      kept.push(at, next);
      keptBytes += next - at;
    }
    at = next;
  }
  let extraBytes = 0;
  for (const [name, value] of spec.extra) extraBytes += 1 + name.length + 2 + Buffer.byteLength(value, 'utf8');
  const propertiesBytes = keptBytes + extraBytes;
  const tagsAndKeys = sections.keysStart + sections.keysLength - sections.tagsStart + 1; // tags length byte .. keys end
  const trailerBytes = 1 + spec.topic.length + tagsAndKeys + 2 + propertiesBytes;
  if (trailerBytes > DEFAULT_MAX_PROPERTIES_BYTES) invalid(`topic, tags, keys and properties would take ${trailerBytes} bytes; the maximum is ${DEFAULT_MAX_PROPERTIES_BYTES}`);
  const bodyEnd = sections.bodyStart + sections.bodyLength;
  const total = RecordField.BODY + sections.bodyLength + trailerBytes;
  const out = Buffer.allocUnsafe(total);
  source.copy(out, 0, 0, bodyEnd); // header + body
  out.writeUInt32BE(total, RecordField.TOTAL_SIZE);
  out.writeUInt32BE(0, RecordField.RECORD_CRC);
  out[RecordField.FLAGS] = spec.flags;
  out.writeUInt32BE(spec.queueId, RecordField.QUEUE_ID);
  out.fill(0, RecordField.QUEUE_OFFSET, RecordField.BORN_TIMESTAMP); // queue offset, commit-log offset
  out.fill(0, RecordField.STORE_TIMESTAMP, RecordField.BORN_HOST);
  out.fill(0, RecordField.STORE_HOST, RecordField.PREPARED_TX_OFFSET); // store host, reconsume times
  writeU64(out, RecordField.PREPARED_TX_OFFSET, spec.preparedTxOffset);
  let at = bodyEnd;
  out[at++] = spec.topic.length;
  at += out.write(spec.topic, at, 'latin1');
  at += source.copy(out, at, sections.tagsStart - 1, sections.keysStart + sections.keysLength);
  out.writeUInt16BE(propertiesBytes, at);
  at += 2;
  for (let i = 0; i < kept.length; i += 2) at += source.copy(out, at, kept[i]!, kept[i + 1]!);
  for (const [name, value] of spec.extra) {
    out[at++] = name.length;
    at += out.write(name, at, 'latin1');
    const valueLengthAt = at;
    at += 2;
    const written = out.write(value, at, 'utf8');
    out.writeUInt16BE(written, valueLengthAt);
    at += written;
  }
  return out;
}

function sectionsOf(record: Buffer): RecordSections {
  try {
    const sections = readRecordSections(record, 0, record.length, emptySections(), Number.MAX_SAFE_INTEGER);
    if (sections.totalSize !== record.length) invalid('expected exactly one record');
    return sections;
  } catch (error) {
    if (error instanceof TxnError) throw error;
    return invalid(`malformed record: ${(error as Error).message}`);
  }
}

const HALF_DROPPED = new Set<string>([SystemProperty.ORIGIN_TOPIC, SystemProperty.ORIGIN_QUEUE_ID, SystemProperty.PRODUCER_GROUP, SystemProperty.TRANSACTION_ID]);
const COMMIT_DROPPED = new Set<string>([SystemProperty.ORIGIN_TOPIC, SystemProperty.ORIGIN_QUEUE_ID, TXN_CHECK_IMMUNITY_PROPERTY]);

/**
 * Turns a producer's prepared record (TX_PREPARED flag, real topic and queue id) into the half record stored on
 * the half topic: same message id, body, tags, keys and properties, with the real topic and queue, the producer
 * group and the transaction id in system properties.
 */
export function toHalfRecord(record: Buffer, meta: { producerGroup: string; transactionId: string }): { half: Buffer; msgId: string; immunityMs: number | undefined } {
  const sections = sectionsOf(record);
  if ((record[RecordField.FLAGS]! & RecordFlag.TX_MASK) !== RecordFlag.TX_PREPARED) invalid('a half message must carry the TX_PREPARED flag');
  const topic = record.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength);
  if (topic.startsWith('%')) invalid(`topic ${topic} is a system topic`);
  const immunityValue = propertyOf(record, sections, TXN_CHECK_IMMUNITY_PROPERTY);
  const extra: Array<readonly [string, string]> = [
    [SystemProperty.ORIGIN_TOPIC, topic],
    [SystemProperty.ORIGIN_QUEUE_ID, String(record.readUInt32BE(RecordField.QUEUE_ID))],
    [SystemProperty.PRODUCER_GROUP, meta.producerGroup],
    [SystemProperty.TRANSACTION_ID, meta.transactionId],
  ];
  const half = rebuild(record, sections, { topic: TXN_HALF_TOPIC, flags: RecordFlag.TX_PREPARED, queueId: TXN_QUEUE_ID, preparedTxOffset: 0, drop: HALF_DROPPED, extra });
  return { half, msgId: readMessageId(record, RecordField.MSG_ID), immunityMs: immunityOf(immunityValue) };
}

function immunityOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/** What the service needs to know about a stored half record. */
export interface HalfInfo {
  halfOffset: number;
  msgId: string;
  storeTimestamp: number;
  topic: string;
  queueId: number;
  producerGroup: string;
  transactionId: string;
  /** Per-message check immunity, if the message set one. */
  immunityMs: number | undefined;
}

/** Reads a stored half record; throws HALF_INVALID if it is not one. */
export function readHalfInfo(record: Buffer): HalfInfo {
  const message = decodeRecord(record);
  if (message.topic !== TXN_HALF_TOPIC || (message.flags & RecordFlag.TX_MASK) !== RecordFlag.TX_PREPARED) invalid('not a half record');
  const sys = message.systemProperties;
  return {
    halfOffset: message.commitLogOffset,
    msgId: message.msgId,
    storeTimestamp: message.storeTimestamp,
    topic: sys[SystemProperty.ORIGIN_TOPIC] ?? '',
    queueId: Number(sys[SystemProperty.ORIGIN_QUEUE_ID] ?? 0),
    producerGroup: sys[SystemProperty.PRODUCER_GROUP] ?? '',
    transactionId: sys[SystemProperty.TRANSACTION_ID] ?? '',
    immunityMs: immunityOf(sys[TXN_CHECK_IMMUNITY_PROPERTY]),
  };
}

/**
 * Rebuilds the committed message from a stored half record: real topic and queue, same message id, keys, tags
 * and properties; flag TX_COMMIT and preparedTxOffset = the half's commit-log offset, which is how a commit is
 * recognised after a crash.
 */
export function toCommittedRecord(half: Buffer): Buffer {
  const sections = sectionsOf(half);
  // Pass 1 only to find the origin: the real topic is needed before the trailer can be sized.
  const topic = propertyOf(half, sections, SystemProperty.ORIGIN_TOPIC);
  const queueId = propertyOf(half, sections, SystemProperty.ORIGIN_QUEUE_ID);
  if (topic === undefined || queueId === undefined) invalid('the half record has no origin topic or queue');
  return rebuild(half, sections, {
    topic, flags: RecordFlag.TX_COMMIT, queueId: Number(queueId), preparedTxOffset: readU64(half, RecordField.COMMIT_LOG_OFFSET), drop: COMMIT_DROPPED, extra: NO_EXTRA,
  });
}

/** The value of one property of a record, without decoding the others. */
function propertyOf(record: Buffer, sections: RecordSections, wanted: string): string | undefined {
  const end = sections.propertiesStart + sections.propertiesLength;
  for (let at = sections.propertiesStart; at < end;) {
    const nameLength = record[at]!;
    const valueLengthAt = at + 1 + nameLength;
    const next = valueLengthAt + 2 + record.readUInt16BE(valueLengthAt);
    if (nameLength === wanted.length && record.toString('latin1', at + 1, valueLengthAt) === wanted) return record.toString('utf8', valueLengthAt + 2, next);
    at = next;
  }
  return undefined;
}

/** True if `record` is the committed message of the half at `halfOffset`. */
export function isCommitOf(record: Buffer, halfOffset: number): boolean {
  return (record[RecordField.FLAGS]! & RecordFlag.TX_MASK) === RecordFlag.TX_COMMIT && readU64(record, RecordField.PREPARED_TX_OFFSET) === halfOffset;
}

const OP_FLAGS: Record<OpType, number> = { [OpType.COMMIT]: RecordFlag.TX_COMMIT, [OpType.ROLLBACK]: RecordFlag.TX_ROLLBACK, [OpType.CHECK]: RecordFlag.TX_NONE };

const OP_TEMPLATES = new Map<OpType, Buffer>();

/** An op record: body = [op type], preparedTxOffset = the half's commit-log offset. Copied from a per-type template. */
export function encodeOpRecord(type: OpType, halfOffset: number): Buffer {
  let template = OP_TEMPLATES.get(type);
  if (template === undefined) {
    template = encodeRecord({ topic: TXN_OP_TOPIC, body: Buffer.of(type) }, { allowSystemTopic: true, flags: OP_FLAGS[type], bornTimestamp: 0 });
    OP_TEMPLATES.set(type, template);
  }
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  writeMessageId(out, RecordField.MSG_ID);
  writeU64(out, RecordField.BORN_TIMESTAMP, Date.now());
  writeU64(out, RecordField.PREPARED_TX_OFFSET, halfOffset);
  return out;
}

export interface OpInfo {
  type: OpType;
  halfOffset: number;
  storeTimestamp: number;
}

export function readOpInfo(record: Buffer, at = 0): OpInfo | undefined {
  const bodyLength = record.readUInt32BE(at + RecordField.BODY_LENGTH);
  if (bodyLength < 1) return undefined;
  const type = record[at + RecordField.BODY]!;
  if (type !== OpType.COMMIT && type !== OpType.ROLLBACK && type !== OpType.CHECK) return undefined;
  return { type, halfOffset: readU64(record, at + RecordField.PREPARED_TX_OFFSET), storeTimestamp: readU64(record, at + RecordField.STORE_TIMESTAMP) };
}
