import type { Message } from '@litemq/protocol';
import {
  RecordField, RecordFlag, SystemProperty, TXN_CHECK_IMMUNITY_PROPERTY, decodeRecord, encodeRecord, readU64,
} from '@litemq/protocol';
import { OpType, TXN_HALF_TOPIC, TXN_OP_TOPIC, TXN_QUEUE_ID } from './constants.js';
import { TxnError, TxnErrorCode } from './errors.js';

const HOST_FIELD_BYTES = RecordField.STORE_HOST - RecordField.BORN_HOST;

function invalid(message: string): never {
  throw new TxnError(TxnErrorCode.HALF_INVALID, message);
}

function reencode(source: Buffer, message: Message, systemProperties: Record<string, string>, flags: number, queueId: number, preparedTxOffset: number): Buffer {
  const decodedMsgId = source.subarray(RecordField.MSG_ID, RecordField.MSG_ID + 16);
  const out = encodeRecord(message, {
    allowSystemTopic: true,
    systemProperties,
    flags,
    queueId,
    preparedTxOffset,
    bornTimestamp: readU64(source, RecordField.BORN_TIMESTAMP),
    msgId: Buffer.from(decodedMsgId),
    maxBodyBytes: Number.MAX_SAFE_INTEGER,
  });
  source.copy(out, RecordField.BORN_HOST, RecordField.BORN_HOST, RecordField.BORN_HOST + HOST_FIELD_BYTES);
  return out;
}

/**
 * Turns a producer's prepared record (TX_PREPARED flag, real topic and queue id) into the half record stored on
 * the half topic: same message id, body, tags, keys and properties, with the real topic and queue, the producer
 * group and the transaction id in system properties.
 */
export function toHalfRecord(record: Buffer, meta: { producerGroup: string; transactionId: string }): { half: Buffer; msgId: string; immunityMs: number | undefined } {
  const message = decodeRecord(record);
  if ((message.flags & RecordFlag.TX_MASK) !== RecordFlag.TX_PREPARED) invalid('a half message must carry the TX_PREPARED flag');
  if (message.topic.startsWith('%')) invalid(`topic ${message.topic} is a system topic`);
  const systemProperties: Record<string, string> = {
    ...message.systemProperties,
    [SystemProperty.ORIGIN_TOPIC]: message.topic,
    [SystemProperty.ORIGIN_QUEUE_ID]: String(message.queueId),
    [SystemProperty.PRODUCER_GROUP]: meta.producerGroup,
    [SystemProperty.TRANSACTION_ID]: meta.transactionId,
  };
  const base: Message = { topic: TXN_HALF_TOPIC, body: message.body, tags: message.tags, keys: message.keys.length ? message.keys : undefined, properties: message.properties };
  const half = reencode(record, base, systemProperties, RecordFlag.TX_PREPARED, TXN_QUEUE_ID, 0);
  return { half, msgId: message.msgId, immunityMs: immunityOf(message.systemProperties[TXN_CHECK_IMMUNITY_PROPERTY]) };
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
  const message = decodeRecord(half);
  const { [SystemProperty.ORIGIN_TOPIC]: topic, [SystemProperty.ORIGIN_QUEUE_ID]: queueId, ...rest } = message.systemProperties;
  delete rest[TXN_CHECK_IMMUNITY_PROPERTY];
  if (topic === undefined || queueId === undefined) invalid('the half record has no origin topic or queue');
  const base: Message = { topic, body: message.body, tags: message.tags, keys: message.keys.length ? message.keys : undefined, properties: message.properties };
  return reencode(half, base, rest, RecordFlag.TX_COMMIT, Number(queueId), message.commitLogOffset);
}

/** True if `record` is the committed message of the half at `halfOffset`. */
export function isCommitOf(record: Buffer, halfOffset: number): boolean {
  return (record[RecordField.FLAGS]! & RecordFlag.TX_MASK) === RecordFlag.TX_COMMIT && readU64(record, RecordField.PREPARED_TX_OFFSET) === halfOffset;
}

const OP_FLAGS: Record<OpType, number> = { [OpType.COMMIT]: RecordFlag.TX_COMMIT, [OpType.ROLLBACK]: RecordFlag.TX_ROLLBACK, [OpType.CHECK]: RecordFlag.TX_NONE };

/** An op record: body = [op type], preparedTxOffset = the half's commit-log offset. */
export function encodeOpRecord(type: OpType, halfOffset: number): Buffer {
  return encodeRecord({ topic: TXN_OP_TOPIC, body: Buffer.of(type) }, { allowSystemTopic: true, flags: OP_FLAGS[type], preparedTxOffset: halfOffset });
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
