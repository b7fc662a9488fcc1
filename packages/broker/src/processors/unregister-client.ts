import type { Frame, RpcHandler, RpcReply } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { groupField, optionalStringField, stringField } from '../request-fields.js';

/** UNREGISTER_CLIENT: the client leaves its producer and/or consumer group (a consumer leaving notifies the group). */
export function unregisterClientProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const clientId = stringField(request.header, 'clientId');
    const producerGroup = optionalStringField(request.header, 'producerGroup') ? groupField(request.header, 'producerGroup') : undefined;
    const consumerGroup = optionalStringField(request.header, 'consumerGroup') ? groupField(request.header, 'consumerGroup') : undefined;
    if (producerGroup === undefined && consumerGroup === undefined) {
      context.producers.unregister(clientId);
      context.consumers.unregister(clientId);
    } else {
      if (producerGroup !== undefined) context.producers.unregister(clientId, producerGroup);
      if (consumerGroup !== undefined) context.consumers.unregister(clientId, consumerGroup);
    }
    return {};
  };
}
