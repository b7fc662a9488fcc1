import type {
  EndTransactionResponseHeader, ForceEndTransactionResponseHeader, Frame, ListPendingTransactionsResponseHeader, RpcHandler, RpcReply,
  SendHalfResponseHeader, TopicConfig, TransactionResolution,
} from '@litemq/protocol';
import {
  RecordField, RecordFlag, ResponseCode, TopicPerm, emptySections, readRecordSections, readRecordTopic, rpcFailure, validateTopicName, verifyBodyCrc,
} from '@litemq/protocol';
import { StorageError, StorageErrorCode } from '@litemq/storage';
import { TxnError, TxnErrorCode } from '@litemq/txn';
import type { BrokerContext } from '../broker-context.js';
import { groupField, intField, optionalIntField, optionalStringField, stringField, topicField } from '../request-fields.js';
import { transactionsOf } from '../transaction-wiring.js';

const RESOLUTIONS: readonly TransactionResolution[] = ['COMMIT', 'ROLLBACK'];

/** Maps txn and store errors to responses a client can act on. */
function failure(error: unknown): unknown {
  if (error instanceof TxnError) {
    if (error.code === TxnErrorCode.TRANSACTION_NOT_FOUND) return rpcFailure(ResponseCode.TRANSACTION_NOT_FOUND, error.message, error.code);
    if (error.code === TxnErrorCode.HALF_INVALID) return rpcFailure(ResponseCode.MESSAGE_ILLEGAL, error.message, error.code);
    if (error.code === TxnErrorCode.TXN_CLOSED) return rpcFailure(ResponseCode.SERVICE_NOT_AVAILABLE, error.message, error.code);
  }
  if (error instanceof StorageError) {
    if (error.code === StorageErrorCode.DISK_FULL) return rpcFailure(ResponseCode.DISK_FULL, error.message, error.code);
    if (error.retriable) return rpcFailure(ResponseCode.SYSTEM_BUSY, error.message, error.code);
  }
  return error;
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw failure(error);
  }
}

function resolutionField(frame: Frame): TransactionResolution {
  const value = frame.header.resolution;
  if (!RESOLUTIONS.includes(value as TransactionResolution)) {
    throw rpcFailure(ResponseCode.INVALID_REQUEST, `header field resolution must be COMMIT or ROLLBACK, got ${JSON.stringify(value ?? null)}`);
  }
  return value as TransactionResolution;
}

/** SEND_HALF: validates the one prepared record like a send (topic, queue, permission, CRC), then stores it as a half. */
export function sendHalfProcessor(context: BrokerContext): RpcHandler {
  const { maxMessageBytes, autoCreateTopic, defaultQueueNums, brokerName } = context.options;
  const sections = emptySections();
  return async (request: Frame): Promise<RpcReply> => {
    const producerGroup = groupField(request.header, 'producerGroup');
    const transactionId = stringField(request.header, 'transactionId');
    const body = request.body;
    if (body.length === 0) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'SEND_HALF carries no record');
    try {
      readRecordSections(body, 0, body.length, sections, maxMessageBytes);
    } catch (error) {
      throw failure(error);
    }
    if (sections.totalSize !== body.length) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'SEND_HALF carries exactly one record');
    if ((body[RecordField.FLAGS]! & RecordFlag.TX_MASK) !== RecordFlag.TX_PREPARED) throw rpcFailure(ResponseCode.MESSAGE_ILLEGAL, 'a half message must carry the TX_PREPARED flag');
    const topic = readRecordTopic(body, sections);
    if (topic.startsWith('%')) throw rpcFailure(ResponseCode.NO_PERMISSION, `topic ${topic} is a system topic; producers cannot write to it`);
    let config: TopicConfig | undefined = context.topics.get(topic);
    if (!config) {
      try {
        validateTopicName(topic);
      } catch (error) {
        throw rpcFailure(ResponseCode.MESSAGE_ILLEGAL, (error as Error).message);
      }
      if (!autoCreateTopic) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on broker ${brokerName} and autoCreateTopic is off`);
      config = { topic, readQueueNums: defaultQueueNums, writeQueueNums: defaultQueueNums, perm: TopicPerm.READ_WRITE };
      await context.topics.put(config);
      context.logger.info({ topic, queues: defaultQueueNums }, 'topic auto-created');
    }
    if ((config.perm & TopicPerm.WRITE) === 0) throw rpcFailure(ResponseCode.NO_PERMISSION, `topic ${topic} is not writable on broker ${brokerName}`);
    const queueId = body.readUInt32BE(RecordField.QUEUE_ID);
    if (queueId >= config.writeQueueNums) throw rpcFailure(ResponseCode.INVALID_REQUEST, `queue id ${queueId} is out of range; topic ${topic} has ${config.writeQueueNums} write queues`);
    if (context.options.verifyBodyCrc) {
      try {
        verifyBodyCrc(body, 0, sections);
      } catch (error) {
        throw failure(error);
      }
    }
    const stored = await guarded(() => transactionsOf(context).prepare(body, { producerGroup, transactionId }));
    const header: SendHalfResponseHeader = { halfOffset: stored.halfOffset, msgId: stored.msgId, brokerName, storeTimestamp: stored.storeTimestamp };
    return { header };
  };
}

/** END_TRANSACTION: commit or rollback of one half, exactly once; duplicates and late checks answer applied: false. */
export function endTransactionProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    groupField(request.header, 'producerGroup');
    const halfOffset = intField(request.header, 'halfOffset');
    const msgId = stringField(request.header, 'msgId');
    const resolution = resolutionField(request);
    const fromCheck = request.header.fromCheck === true;
    const result = await guarded(() => transactionsOf(context).end(halfOffset, resolution, { msgId, source: fromCheck ? 'check' : 'producer' }));
    const header: EndTransactionResponseHeader = { outcome: result.outcome, applied: result.applied };
    return { header };
  };
}

/** LIST_PENDING_TRANSACTIONS: the oldest pending halves (age, checks, group, topic, message id). */
export function listPendingTransactionsProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const limit = optionalIntField(request.header, 'limit', 100, 1, 1_000);
    const producerGroup = request.header.producerGroup == null ? undefined : groupField(request.header, 'producerGroup');
    const topic = request.header.topic == null ? undefined : topicField(request.header, 'topic');
    const header: ListPendingTransactionsResponseHeader = await guarded(() => transactionsOf(context).list({ limit, producerGroup, topic }));
    return { header };
  };
}

/** FORCE_END_TRANSACTION: an operator commits or rolls back a pending half, by offset or by message id. */
export function forceEndTransactionProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const resolution = resolutionField(request);
    const msgId = optionalStringField(request.header, 'msgId');
    const service = transactionsOf(context);
    let halfOffset = request.header.halfOffset == null ? undefined : intField(request.header, 'halfOffset');
    if (halfOffset === undefined) {
      if (msgId === undefined) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'give halfOffset or msgId');
      halfOffset = await guarded(() => service.findPending(msgId));
      if (halfOffset === undefined) throw rpcFailure(ResponseCode.TRANSACTION_NOT_FOUND, `no pending transaction with message id ${msgId} on broker ${context.options.brokerName}`);
    }
    const result = await guarded(() => service.end(halfOffset, resolution, { msgId, source: 'operator' }));
    const header: ForceEndTransactionResponseHeader = { outcome: result.outcome, applied: result.applied, halfOffset: result.halfOffset, msgId: result.msgId };
    return { header };
  };
}
