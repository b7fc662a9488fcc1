import type { Frame, FrameHeader, RpcHandler, RpcReply } from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { clampOffset } from '../broker-context.js';
import { arrayField, groupField, intField, topicField } from '../request-fields.js';

/**
 * COMMIT_OFFSET: sets (not maxes) each listed queue's committed offset, clamped to the queue's range.
 * Entries for topics this broker does not have are skipped; the response says how many were applied.
 */
export function commitOffsetProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const group = groupField(request.header);
    const entries = arrayField(request.header, 'offsets');
    const parsed = entries.map((entry, i) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw rpcFailure(ResponseCode.INVALID_REQUEST, `offsets[${i}] must be {topic, queueId, offset}`);
      const fields = entry as FrameHeader;
      return { topic: topicField(fields), queueId: intField(fields, 'queueId', 0, 65_535), offset: intField(fields, 'offset') };
    });
    let committed = 0;
    for (const { topic, queueId, offset } of parsed) {
      const config = context.topics.get(topic);
      if (!config || queueId >= config.readQueueNums) continue;
      context.offsets.commit(group, topic, queueId, clampOffset(context, topic, queueId, offset));
      committed++;
    }
    return { header: { committed } };
  };
}
