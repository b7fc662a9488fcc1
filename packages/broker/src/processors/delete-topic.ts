import type { Frame, RpcHandler, RpcReply } from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { topicField } from '../request-fields.js';

/** DELETE_TOPIC: forgets the topic and every group's offsets for it; its stored messages age out with retention. */
export function deleteTopicProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const topic = topicField(request.header);
    if (!(await context.topics.delete(topic))) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on broker ${context.options.brokerName}`);
    context.offsets.deleteTopic(topic);
    await context.offsets.persist();
    context.logger.info({ topic }, 'topic deleted');
    return {};
  };
}
