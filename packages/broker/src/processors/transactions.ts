import type {
  EndTransactionBatchResponseHeader, EndTransactionResponseHeader, ForceEndTransactionResponseHeader, Frame, ListPendingTransactionsResponseHeader, RecordSections,
  RpcHandler, RpcReply, SendHalfBatchResponseHeader, SendHalfResponseHeader, TopicConfig, TransactionResolution, TxnBatchItemError,
} from '@litemq/protocol';
import {
  MAX_TXN_BATCH, RecordField, RecordFlag, ResponseCode, TopicPerm, emptySections, errorReply, readRecordSections, readRecordTopic, rpcFailure, validateTopicName,
  verifyBodyCrc,
} from '@litemq/protocol';
import { StorageError, StorageErrorCode } from '@litemq/storage';
import { TxnError, TxnErrorCode } from '@litemq/txn';
import type { BrokerContext } from '../broker-context.js';
import { arrayField, groupField, intField, optionalIntField, optionalStringField, stringField, topicField } from '../request-fields.js';
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

/** Validates one prepared record like a send (structure, flag, topic, permission, queue, CRC); throws an rpcFailure. */
async function validateHalf(context: BrokerContext, body: Buffer, sections: RecordSections): Promise<void> {
  const { maxMessageBytes, autoCreateTopic, defaultQueueNums, brokerName } = context.options;
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
}

function itemError(index: number, error: unknown): TxnBatchItemError {
  const reply = errorReply(failure(error));
  const header = reply.header as { error: string; errorCode: string };
  return { index, code: reply.code ?? ResponseCode.SYSTEM_ERROR, error: header.error, errorCode: header.errorCode };
}

function batchSize(header: Frame['header'], name: string, arrays: readonly string[]): number {
  const first = arrayField(header, name);
  if (first.length === 0 || first.length > MAX_TXN_BATCH) throw rpcFailure(ResponseCode.INVALID_REQUEST, `header field ${name} must hold 1-${MAX_TXN_BATCH} items`);
  for (const other of arrays) {
    if (arrayField(header, other).length !== first.length) throw rpcFailure(ResponseCode.INVALID_REQUEST, `header fields ${name} and ${other} must have the same length`);
  }
  return first.length;
}

/**
 * SEND_HALF: validates each prepared record like a send (topic, queue, permission, CRC), then stores it as a half.
 * One record (header `transactionId`) or a batch (header `transactionIds`, records back to back; each item
 * succeeds or fails on its own).
 */
export function sendHalfProcessor(context: BrokerContext): RpcHandler {
  const { brokerName } = context.options;
  const sections = emptySections();
  return async (request: Frame): Promise<RpcReply> => {
    const producerGroup = groupField(request.header, 'producerGroup');
    const body = request.body;
    if (body.length === 0) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'SEND_HALF carries no record');
    if (request.header.transactionIds !== undefined) return sendHalfBatch(context, request, producerGroup);
    const transactionId = stringField(request.header, 'transactionId');
    await validateHalf(context, body, sections);
    const stored = await guarded(() => transactionsOf(context).prepare(body, { producerGroup, transactionId }));
    const header: SendHalfResponseHeader = { halfOffset: stored.halfOffset, msgId: stored.msgId, brokerName, storeTimestamp: stored.storeTimestamp };
    return { header };
  };
}

async function sendHalfBatch(context: BrokerContext, request: Frame, producerGroup: string): Promise<RpcReply> {
  const count = batchSize(request.header, 'transactionIds', []);
  const transactionIds = request.header.transactionIds as unknown[];
  const body = request.body;
  const service = transactionsOf(context);
  const records: Buffer[] = [];
  for (let at = 0; at < body.length;) {
    if (body.length - at < RecordField.BODY) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'SEND_HALF batch: truncated record');
    const size = body.readUInt32BE(at);
    if (size < RecordField.BODY || at + size > body.length) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'SEND_HALF batch: a record overruns the body');
    records.push(body.subarray(at, at + size));
    at += size;
  }
  if (records.length !== count) throw rpcFailure(ResponseCode.INVALID_REQUEST, `SEND_HALF batch: ${records.length} records for ${count} transaction ids`);
  const halfOffsets = new Array<number>(count).fill(-1);
  const storeTimestamps = new Array<number>(count).fill(0);
  const errors: TxnBatchItemError[] = [];
  const sections = emptySections();
  const stores: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const transactionId = transactionIds[i];
    try {
      if (typeof transactionId !== 'string' || transactionId.length === 0) throw rpcFailure(ResponseCode.INVALID_REQUEST, `transactionIds[${i}] must be a non-empty string`);
      await validateHalf(context, records[i]!, sections);
    } catch (error) {
      errors.push(itemError(i, error));
      continue;
    }
    stores.push(service.prepare(records[i]!, { producerGroup, transactionId }).then(
      (stored) => {
        halfOffsets[i] = stored.halfOffset;
        storeTimestamps[i] = stored.storeTimestamp;
      },
      (error: unknown) => {
        errors.push(itemError(i, error));
      },
    ));
  }
  await Promise.all(stores);
  const header: SendHalfBatchResponseHeader = { brokerName: context.options.brokerName, halfOffsets, storeTimestamps };
  if (errors.length > 0) header.errors = errors.sort((a, b) => a.index - b.index);
  return { header };
}

/**
 * END_TRANSACTION: commit or rollback of one half, exactly once; duplicates and late checks answer applied: false.
 * Batched form (header `halfOffsets`, `msgIds`, `resolutions`): each item is resolved on its own.
 */
export function endTransactionProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    groupField(request.header, 'producerGroup');
    if (request.header.halfOffsets !== undefined) return endTransactionBatch(context, request);
    const halfOffset = intField(request.header, 'halfOffset');
    const msgId = stringField(request.header, 'msgId');
    const resolution = resolutionField(request);
    const fromCheck = request.header.fromCheck === true;
    const result = await guarded(() => transactionsOf(context).end(halfOffset, resolution, { msgId, source: fromCheck ? 'check' : 'producer' }));
    const header: EndTransactionResponseHeader = { outcome: result.outcome, applied: result.applied };
    return { header };
  };
}

async function endTransactionBatch(context: BrokerContext, request: Frame): Promise<RpcReply> {
  const count = batchSize(request.header, 'halfOffsets', ['msgIds', 'resolutions']);
  const halfOffsets = request.header.halfOffsets as unknown[];
  const msgIds = request.header.msgIds as unknown[];
  const resolutions = request.header.resolutions as unknown[];
  const service = transactionsOf(context);
  const outcomes = new Array<TransactionResolution | 'UNKNOWN'>(count).fill('UNKNOWN');
  const applied = new Array<boolean>(count).fill(false);
  const errors: TxnBatchItemError[] = [];
  const ends: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const halfOffset = halfOffsets[i];
    const msgId = msgIds[i];
    const resolution = resolutions[i];
    if (typeof halfOffset !== 'number' || !Number.isSafeInteger(halfOffset) || halfOffset < 0 || typeof msgId !== 'string' || !RESOLUTIONS.includes(resolution as TransactionResolution)) {
      errors.push(itemError(i, rpcFailure(ResponseCode.INVALID_REQUEST, `END_TRANSACTION batch item ${i} needs a halfOffset, a msgId and a resolution COMMIT or ROLLBACK`)));
      continue;
    }
    ends.push(service.end(halfOffset, resolution as TransactionResolution, { msgId, source: 'producer' }).then(
      (result) => {
        outcomes[i] = result.outcome;
        applied[i] = result.applied;
      },
      (error: unknown) => {
        errors.push(itemError(i, error));
      },
    ));
  }
  await Promise.all(ends);
  const header: EndTransactionBatchResponseHeader = { outcomes, applied };
  if (errors.length > 0) header.errors = errors.sort((a, b) => a.index - b.index);
  return { header };
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
