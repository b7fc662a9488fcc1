import type { Frame, GetConsumerOffsetsResponseHeader, QueueOffsetStatus, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { queueRange, requireTopic } from '../broker-context.js';
import { groupField, topicField } from '../request-fields.js';

/**
 * GET_CONSUMER_OFFSETS: per queue of the group's topics (one topic, or every topic it committed offsets
 * for or subscribes to), min/max/committed offsets and lag = max − committed (max − min when nothing is
 * committed yet).
 */
export function getConsumerOffsetsProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const group = groupField(request.header);
    let topics: string[];
    if (request.header.topic === undefined || request.header.topic === null) {
      topics = [...new Set([...context.offsets.topicsOf(group), ...context.consumers.subscribedTopics(group)])].filter((topic) => context.topics.get(topic)).sort();
    } else {
      const topic = topicField(request.header);
      requireTopic(context, topic);
      topics = [topic];
    }
    const queues: QueueOffsetStatus[] = [];
    for (const topic of topics) {
      const config = context.topics.get(topic)!;
      for (let queueId = 0; queueId < config.readQueueNums; queueId++) {
        const { minOffset, maxOffset } = queueRange(context, topic, queueId);
        const committedOffset = context.offsets.committed(group, topic, queueId);
        const lag = Math.max(0, maxOffset - (committedOffset < 0 ? minOffset : Math.max(committedOffset, minOffset)));
        queues.push({ topic, queueId, minOffset, maxOffset, committedOffset, lag });
      }
    }
    const header: GetConsumerOffsetsResponseHeader = { group, queues };
    return { header };
  };
}
