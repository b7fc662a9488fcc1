import type { Frame, GetConsumerListResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { groupField } from '../request-fields.js';

/**
 * GET_CONSUMER_LIST: the live client ids of a consumer group, sorted: the members clustering consumers divide the
 * queues among. Broadcasting members read every queue anyway, so they are left out (a group mixing both models
 * must not hand queues to them), and so are pop (SimpleConsumer) members, which never pull assigned queues (a group
 * mixing push and pop members is refused anyway: CONSUME_TYPE_CONFLICT).
 */
export function getConsumerListProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const header: GetConsumerListResponseHeader = { clientIds: context.consumers.clientIds(groupField(request.header), 'CLUSTERING', 'PUSH') };
    return { header };
  };
}
