import type { AckMessageResponseHeader, ChangeInvisibleTimeResponseHeader, Frame, RpcHandler, RpcReply } from '@litemq/protocol';
import { POP_MAX_INVISIBLE_MS, POP_MIN_INVISIBLE_MS } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { delayOf } from '../delay-service.js';
import { popOf } from '../pop-service.js';
import { groupField, intField, stringField } from '../request-fields.js';

/**
 * ACK_MESSAGE: the popped message of the receipt handle is processed. RECEIPT_HANDLE_EXPIRED once its invisible
 * time has passed, RECEIPT_HANDLE_STALE for a handle replaced by CHANGE_INVISIBLE_TIME, INVALID_REQUEST
 * (RECEIPT_HANDLE_INVALID) for a handle this broker did not issue to the group.
 */
export function ackMessageProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const header: AckMessageResponseHeader = await popOf(context).ack(groupField(request.header), stringField(request.header, 'handle'));
    return { header };
  };
}

/** CHANGE_INVISIBLE_TIME: the message stays invisible for invisibleMs from now; answers the new receipt handle. */
export function changeInvisibleTimeProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const maxInvisibleMs = Math.min(POP_MAX_INVISIBLE_MS, delayOf(context).timers.options.maxDelayMs);
    const header: ChangeInvisibleTimeResponseHeader = await popOf(context).changeInvisible(
      groupField(request.header),
      stringField(request.header, 'handle'),
      intField(request.header, 'invisibleMs', POP_MIN_INVISIBLE_MS, maxInvisibleMs),
    );
    return { header };
  };
}
