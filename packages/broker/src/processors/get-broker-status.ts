import type { BrokerStatusResponseHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';

/** GET_BROKER_STATUS: identity, log offsets, topic and connection counts, uptime. */
export function getBrokerStatusProcessor(context: BrokerContext): RpcHandler {
  return (): RpcReply => {
    const { brokerName, brokerId, clusterName } = context.options;
    const header: BrokerStatusResponseHeader = {
      brokerName,
      brokerId,
      clusterName,
      address: context.address,
      minCommitLogOffset: context.store.minOffset,
      maxCommitLogOffset: context.store.maxOffset,
      flushedOffset: context.store.flushedOffset,
      topics: context.topics.size,
      connections: context.connectionCount(),
      uptimeMs: Date.now() - context.startedAt,
    };
    return { header };
  };
}
