import type { Frame, RpcHandler, RpcReply, SendResponseHeader, TopicConfig } from '@litemq/protocol';
import {
  RecordField, RecordFlag, ResponseCode, SEND_RESULT_ENTRY_BYTES, TopicPerm, emptySections, rangesEqual, readRecordSections, rpcFailure, validateTopicName, verifyBodyCrc, writeU64,
} from '@litemq/protocol';
import type { AppendResult } from '@litemq/storage';
import { StorageError, StorageErrorCode } from '@litemq/storage';
import type { BrokerContext } from '../broker-context.js';
import type { PreparedSend } from '../delay-service.js';
import { delayOf } from '../delay-service.js';

const PERCENT = 0x25;

/** Maps a failed append to the response a producer can act on. */
function storeFailure(error: unknown): unknown {
  if (!(error instanceof StorageError)) return error;
  if (error.code === StorageErrorCode.DISK_FULL) return rpcFailure(ResponseCode.DISK_FULL, error.message, error.code);
  if (error.retriable) return rpcFailure(ResponseCode.SYSTEM_BUSY, error.message, error.code);
  if (error.code === StorageErrorCode.QUEUE_ID_INVALID || error.code === StorageErrorCode.RECORD_TOO_LARGE) {
    return rpcFailure(ResponseCode.MESSAGE_ILLEGAL, error.message, error.code);
  }
  return error;
}

/**
 * SEND_MESSAGE / SEND_BATCH: the body is one or more concatenated records. Every record is validated
 * (structure and size, topic, queue id, permission, body CRC) before anything is stored; then the whole
 * frame is appended with one store call, exactly as received. No object is created per record.
 */
export function sendMessageProcessor(context: BrokerContext): RpcHandler {
  const { maxMessageBytes, autoCreateTopic, defaultQueueNums, maxPendingSendBytes, brokerName } = context.options;
  const checkCrc = context.options.verifyBodyCrc;
  const sections = emptySections();
  /** Topics a frame sends to that do not exist yet: created once the whole frame is valid. */
  const toCreate: TopicConfig[] = [];
  let pendingBytes = 0;
  /** Records of the last validated frame with the DELAYED flag (only those have their properties read). */
  let delayed = 0;

  function topicConfig(body: Buffer, start: number, length: number): TopicConfig {
    if (body[start] === PERCENT) {
      throw rpcFailure(ResponseCode.NO_PERMISSION, `topic ${body.toString('latin1', start, start + length)} is a system topic; producers cannot write to it`);
    }
    const topic = body.toString('latin1', start, start + length);
    const config = context.topics.get(topic) ?? toCreate.find((pending) => pending.topic === topic);
    if (config) return config;
    validateTopicName(topic);
    if (!autoCreateTopic) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on broker ${brokerName} and autoCreateTopic is off`);
    const created: TopicConfig = { topic, readQueueNums: defaultQueueNums, writeQueueNums: defaultQueueNums, perm: TopicPerm.READ_WRITE };
    toCreate.push(created);
    return created;
  }

  /** Validates every record; returns how many there are. Throws the error response for the first bad one. */
  function validate(body: Buffer): number {
    toCreate.length = 0;
    delayed = 0;
    let count = 0;
    let config: TopicConfig | undefined;
    let topicStart = 0;
    let topicLength = 0;
    for (let at = 0; at < body.length; at += sections.totalSize) {
      readRecordSections(body, at, body.length, sections, maxMessageBytes);
      const start = sections.topicStart;
      const length = sections.topicLength;
      // Records of a batch usually share a topic: compare bytes instead of building a string per record.
      if (config === undefined || length !== topicLength || !rangesEqual(body, topicStart, start, length)) {
        config = topicConfig(body, start, length);
        topicStart = start;
        topicLength = length;
        if ((config.perm & TopicPerm.WRITE) === 0) throw rpcFailure(ResponseCode.NO_PERMISSION, `topic ${config.topic} is not writable on broker ${brokerName}`);
      }
      const queueId = body.readUInt32BE(at + RecordField.QUEUE_ID);
      if (queueId >= config.writeQueueNums) {
        throw rpcFailure(ResponseCode.INVALID_REQUEST, `record at byte ${at}: queue id ${queueId} is out of range; topic ${config.topic} has ${config.writeQueueNums} write queues`);
      }
      if (checkCrc) verifyBodyCrc(body, at, sections);
      if ((body[at + RecordField.FLAGS]! & RecordFlag.DELAYED) !== 0) delayed++;
      count++;
    }
    return count;
  }

  function reply(count: number, result: AppendResult): RpcReply {
    const header: SendResponseHeader = { count, storeTimestamp: result.storeTimestamp, brokerName };
    const body = Buffer.allocUnsafe(count * SEND_RESULT_ENTRY_BYTES);
    for (let i = 0; i < count; i++) {
      writeU64(body, i * SEND_RESULT_ENTRY_BYTES, result.queueOffsets[i]!);
      writeU64(body, i * SEND_RESULT_ENTRY_BYTES + 8, result.commitLogOffsets[i]!);
    }
    // Stored but not confirmed durable in time: the producer must not resend (it would duplicate).
    const code = result.status === 'FLUSH_TIMEOUT' ? ResponseCode.FLUSH_DISK_TIMEOUT : ResponseCode.SUCCESS;
    return { code, header, body };
  }

  return async (request: Frame): Promise<RpcReply> => {
    let body = request.body;
    if (body.length === 0) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'the request carries no records');
    const count = validate(body);
    // Delayed records go to the timer topic (durably, before the acknowledgement), then into the timer store.
    const prepared: PreparedSend | undefined = delayed > 0 ? delayOf(context).prepareSend(body) : undefined;
    if (prepared) body = prepared.body;
    if (toCreate.length > 0) {
      const created = toCreate.splice(0);
      for (const config of created) {
        await context.topics.put(config);
        context.logger.info({ topic: config.topic, queues: config.writeQueueNums }, 'topic auto-created');
      }
    }
    if (pendingBytes > 0 && pendingBytes + body.length > maxPendingSendBytes) {
      throw rpcFailure(ResponseCode.SYSTEM_BUSY, `broker ${brokerName} has ${pendingBytes} bytes waiting for the store; retry later`);
    }
    pendingBytes += body.length;
    let result: AppendResult;
    try {
      // Every record of an unchanged body passed readRecordSections above: the store need not walk it again.
      result = await context.store.append(body, prepared ? undefined : maxMessageBytes);
      if (prepared) delayOf(context).afterAppend(prepared, result);
    } catch (error) {
      throw storeFailure(error);
    } finally {
      pendingBytes -= body.length;
    }
    return reply(count, result);
  };
}
