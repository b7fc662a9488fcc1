import type { ListTopicsResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';

/** LIST_TOPICS: every topic of this broker, sorted by name. */
export function listTopicsProcessor(context: BrokerContext): RpcHandler {
  return (): RpcReply => {
    const header: ListTopicsResponseHeader = { topics: context.topics.list() };
    return { header };
  };
}
