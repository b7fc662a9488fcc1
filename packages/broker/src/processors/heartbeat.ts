import type { ConsumeFromWhere, ConsumeModel, ConsumeType, Frame, FrameHeader, RpcConnection, RpcHandler, RpcReply, SubscriptionData } from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { BrokerErrorCode } from '../errors.js';
import { arrayField, checkInt, consumerGroupField, groupField, stringField, topicField } from '../request-fields.js';
import { retryOf } from '../retry-service.js';

const CONSUME_MODELS: readonly ConsumeModel[] = ['CLUSTERING', 'BROADCASTING'];
const FROM_WHERE: readonly ConsumeFromWhere[] = ['LAST_OFFSET', 'FIRST_OFFSET', 'TIMESTAMP'];
const CONSUME_TYPES: readonly ConsumeType[] = ['PUSH', 'POP'];

function objectAt(value: unknown, what: string): FrameHeader {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw rpcFailure(ResponseCode.INVALID_REQUEST, `${what} must be a map`);
  return value as FrameHeader;
}

/** The `name` list of a heartbeat, refused (HEARTBEAT_TOO_MANY_GROUPS) when longer than maxGroupsPerHeartbeat. */
function groupList(context: BrokerContext, header: FrameHeader, name: string): readonly unknown[] {
  const list = arrayField(header, name);
  const max = context.options.maxGroupsPerHeartbeat;
  if (list.length > max) {
    throw rpcFailure(ResponseCode.INVALID_REQUEST, `a heartbeat lists ${list.length} ${name}; the maximum is ${max} (maxGroupsPerHeartbeat)`, BrokerErrorCode.HEARTBEAT_TOO_MANY_GROUPS);
  }
  return list;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) throw rpcFailure(ResponseCode.INVALID_REQUEST, `${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value ?? null)}`);
  return value as T;
}

/**
 * HEARTBEAT: refreshes the client's producer and consumer group memberships (joins notify the group). Consumer
 * groups must be valid consumer group names (GROUP_NAME_INVALID), and a consumer may not join a group whose live
 * members consume by another type (CONSUME_TYPE_CONFLICT). A heartbeat lists at most maxGroupsPerHeartbeat groups of
 * each kind (HEARTBEAT_TOO_MANY_GROUPS), and the retry topics of its new cluster-mode groups must fit in
 * maxConsumerGroups (CONSUMER_GROUP_LIMIT). On any of these errors nothing of the heartbeat is recorded.
 */
export function heartbeatProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame, connection: RpcConnection): Promise<RpcReply> => {
    const clientId = stringField(request.header, 'clientId');
    const producerGroups = groupList(context, request.header, 'producerGroups').map((group) => groupField({ group: group as string }));
    const consumers = groupList(context, request.header, 'consumers').map((value, i) => {
      const consumer = objectAt(value, `consumers[${i}]`);
      const subscriptions: SubscriptionData[] = arrayField(consumer, 'subscriptions').map((entry, j) => {
        const subscription = objectAt(entry, `consumers[${i}].subscriptions[${j}]`);
        const expression = subscription.expression ?? '*';
        if (typeof expression !== 'string') throw rpcFailure(ResponseCode.INVALID_REQUEST, `consumers[${i}].subscriptions[${j}].expression must be a string`);
        const sql = subscription.sql;
        if (sql !== undefined && typeof sql !== 'string') throw rpcFailure(ResponseCode.INVALID_REQUEST, `consumers[${i}].subscriptions[${j}].sql must be a string`);
        return sql === undefined ? { topic: topicField(subscription), expression } : { topic: topicField(subscription), expression, sql };
      });
      return {
        group: consumerGroupField(consumer),
        consumeModel: oneOf(consumer.consumeModel ?? 'CLUSTERING', CONSUME_MODELS, `consumers[${i}].consumeModel`),
        consumeType: oneOf(consumer.consumeType ?? 'PUSH', CONSUME_TYPES, `consumers[${i}].consumeType`),
        fromWhere: oneOf(consumer.fromWhere ?? 'LAST_OFFSET', FROM_WHERE, `consumers[${i}].fromWhere`),
        subscriptions,
        ...(consumer.maxReconsumeTimes === undefined || consumer.maxReconsumeTimes === null
          ? {}
          : { maxReconsumeTimes: checkInt(consumer.maxReconsumeTimes, `consumers[${i}].maxReconsumeTimes`, 0, 1000) }),
      };
    });
    for (const consumer of consumers) context.consumers.assertConsumeType(consumer.group, consumer.consumeType, clientId);
    if (consumers.length > 0) retryOf(context).assertHeartbeatRoom(consumers);
    const now = Date.now();
    for (const group of producerGroups) context.producers.heartbeat(group, clientId, connection, now);
    for (const consumer of consumers) {
      context.consumers.heartbeat(consumer.group, {
        clientId, connection, consumeModel: consumer.consumeModel, consumeType: consumer.consumeType, fromWhere: consumer.fromWhere, subscriptions: consumer.subscriptions,
      }, now);
    }
    // Retry topics of cluster-mode groups exist (and are routable) before the consumer looks their route up.
    if (consumers.length > 0) await retryOf(context).onHeartbeat(consumers);
    return {};
  };
}
