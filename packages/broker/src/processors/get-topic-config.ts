import type { Frame, GetTopicConfigResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { requireTopic } from '../broker-context.js';
import { topicField } from '../request-fields.js';

/** GET_TOPIC_CONFIG: one topic's queues and permission. */
export function getTopicConfigProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const header: GetTopicConfigResponseHeader = requireTopic(context, topicField(request.header));
    return { header };
  };
}
