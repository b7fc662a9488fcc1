import type { Frame, RpcHandler, RpcReply, TopicConfig } from '@litemq/protocol';
import { ResponseCode, TopicPerm, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { optionalIntField, topicField } from '../request-fields.js';
import { topicConfigProblem } from '../topic-config-manager.js';

/** CREATE_TOPIC: creates or updates a (user) topic; persisted before the answer. Queue counts default to defaultQueueNums. */
export function createTopicProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const { defaultQueueNums } = context.options;
    const config: TopicConfig = {
      topic: topicField(request.header, 'topic', false),
      readQueueNums: optionalIntField(request.header, 'readQueueNums', defaultQueueNums, 1),
      writeQueueNums: optionalIntField(request.header, 'writeQueueNums', defaultQueueNums, 1),
      perm: optionalIntField(request.header, 'perm', TopicPerm.READ_WRITE),
    };
    const problem = topicConfigProblem(config);
    if (problem) throw rpcFailure(ResponseCode.INVALID_REQUEST, problem);
    const stored = await context.topics.put(config);
    context.logger.info({ ...stored }, 'topic created or updated');
    return { header: stored };
  };
}
