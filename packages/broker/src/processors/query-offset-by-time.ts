import type { Frame, QueryOffsetByTimeResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { requireTopic } from '../broker-context.js';
import { intField, topicField } from '../request-fields.js';

/** QUERY_OFFSET_BY_TIME: the first offset of a queue stored at or after `timestamp` (max offset if none). */
export function queryOffsetByTimeProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const topic = topicField(request.header);
    const queueId = intField(request.header, 'queueId', 0, 65_535);
    const timestamp = intField(request.header, 'timestamp');
    requireTopic(context, topic);
    const header: QueryOffsetByTimeResponseHeader = { offset: await context.store.getOffsetByTime(topic, queueId, timestamp) };
    return { header };
  };
}
