import type {
  ConsumerSendBackResponseHeader, DlqGetResponseHeader, DlqListResponseHeader, DlqPurgeResponseHeader, DlqResendResponseHeader, DlqResendTarget, Frame,
  RpcHandler, RpcReply,
} from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { BrokerErrorCode } from '../errors.js';
import { arrayField, checkInt, groupField, intField, optionalIntField, optionalStringField, stringField } from '../request-fields.js';
import { MAX_FAILURE_HISTORY } from '../retry-policy.js';
import { retryOf } from '../retry-service.js';

function msgIdsField(request: Frame): string[] {
  return arrayField(request.header, 'msgIds').map((id, i) => {
    if (typeof id !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(id)) throw rpcFailure(ResponseCode.INVALID_REQUEST, `msgIds[${i}] must be a message id (32 hex digits)`);
    return id.toUpperCase();
  });
}

/** Earlier in-place failures sent with a send-back: [timeMs, reason] pairs (at most MAX_FAILURE_HISTORY kept). */
function historyField(request: Frame): Array<[number, string]> {
  return arrayField(request.header, 'history').map((entry, i): [number, string] => {
    if (!Array.isArray(entry) || typeof entry[1] !== 'string') throw rpcFailure(ResponseCode.INVALID_REQUEST, `history[${i}] must be [timeMs, reason]`);
    return [checkInt(entry[0], `history[${i}][0]`, 0, Number.MAX_SAFE_INTEGER), entry[1]];
  }).slice(-MAX_FAILURE_HISTORY);
}

/** CONSUMER_SEND_BACK: a consumer failed a message; retry it through `%RETRY%<group>` with backoff, or dead-letter it. */
export function consumerSendBackProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const header = request.header;
    const maxReconsumeTimes = header.maxReconsumeTimes === undefined || header.maxReconsumeTimes === null ? undefined : checkInt(header.maxReconsumeTimes, 'maxReconsumeTimes', 0, 1000);
    const delayLevel = header.delayLevel === undefined || header.delayLevel === null ? 0 : checkInt(header.delayLevel, 'delayLevel', -1, 1000);
    const reply: ConsumerSendBackResponseHeader = await retryOf(context).sendBack({
      group: groupField(header),
      commitLogOffset: intField(header, 'commitLogOffset'),
      msgId: stringField(header, 'msgId').toUpperCase(),
      maxReconsumeTimes,
      delayLevel,
      failureReason: optionalStringField(header, 'failureReason') ?? '',
      reconsumeTimes: header.reconsumeTimes === undefined || header.reconsumeTimes === null ? undefined : checkInt(header.reconsumeTimes, 'reconsumeTimes', 0, 1_000_000),
      history: historyField(request),
    });
    return { header: reply };
  };
}

export function dlqListProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const reply: DlqListResponseHeader = await retryOf(context).list(groupField(request.header), optionalIntField(request.header, 'limit', 1000, 1, 100_000));
    return { header: reply };
  };
}

export function dlqGetProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const group = groupField(request.header);
    const msgId = stringField(request.header, 'msgId').toUpperCase();
    const service = retryOf(context);
    const found = await service.get(group, msgId);
    if (!found) throw rpcFailure(ResponseCode.INVALID_REQUEST, `no dead letter ${msgId} for group ${group} on broker ${context.options.brokerName}`, BrokerErrorCode.DLQ_MESSAGE_NOT_FOUND);
    const reply: DlqGetResponseHeader = { message: service.info(group, found.message) };
    return { header: reply, body: found.message.body };
  };
}

export function dlqResendProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const target = request.header.target ?? 'RETRY';
    if (target !== 'RETRY' && target !== 'ORIGIN') throw rpcFailure(ResponseCode.INVALID_REQUEST, `target must be RETRY or ORIGIN, got ${JSON.stringify(target)}`);
    const reply: DlqResendResponseHeader = await retryOf(context).resend(groupField(request.header), msgIdsField(request), target as DlqResendTarget);
    return { header: reply };
  };
}

export function dlqPurgeProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const reply: DlqPurgeResponseHeader = { purged: await retryOf(context).purge(groupField(request.header), msgIdsField(request)) };
    return { header: reply };
  };
}
