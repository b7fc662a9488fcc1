import type { Frame, QueryOffsetsResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { queueRange, requireTopic } from '../broker-context.js';
import { groupField, intField, topicField } from '../request-fields.js';

/** QUERY_OFFSETS: a queue's min and max offsets and, when a group is given, its committed offset (-1: none). */
export function queryOffsetsProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const topic = topicField(request.header);
    const queueId = intField(request.header, 'queueId', 0, 65_535);
    requireTopic(context, topic);
    const group = request.header.group === undefined || request.header.group === null ? undefined : groupField(request.header);
    const { minOffset, maxOffset } = queueRange(context, topic, queueId);
    const header: QueryOffsetsResponseHeader = { minOffset, maxOffset, committedOffset: group === undefined ? -1 : context.offsets.committed(group, topic, queueId) };
    return { header };
  };
}
