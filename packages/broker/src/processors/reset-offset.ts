import type { Frame, NotifyOffsetResetHeader, ResetOffsetEntry, ResetOffsetResponseHeader, RpcConnection, RpcHandler, RpcReply } from '@litemq/protocol';
import { RequestCode, ResponseCode, SystemTopicPrefix, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { queueRange } from '../broker-context.js';
import { groupField, optionalIntField, topicField } from '../request-fields.js';

const TARGETS = ['EARLIEST', 'LATEST', 'TIMESTAMP'] as const;

/**
 * RESET_OFFSET: sets a group's committed offset of every queue of `topic` (or of every topic the group has
 * offsets for or subscribes to, retry topic excluded) to the earliest, the latest, or the first offset stored at
 * or after `timestamp`. Connected clustering members of the group are told at once (NOTIFY_OFFSET_RESET): they drop what
 * they cached for those queues and continue from the new offsets; members that are not connected read them
 * when they start.
 */
export function resetOffsetProcessor(context: BrokerContext): RpcHandler {
  return async (request: Frame): Promise<RpcReply> => {
    const header = request.header;
    const group = groupField(header);
    const target = header.target;
    if (!TARGETS.includes(target as (typeof TARGETS)[number])) throw rpcFailure(ResponseCode.INVALID_REQUEST, `target must be one of ${TARGETS.join(', ')}, got ${JSON.stringify(target ?? null)}`);
    const timestamp = target === 'TIMESTAMP' ? optionalIntField(header, 'timestamp', -1, 0) : 0;
    if (timestamp < 0) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'target TIMESTAMP needs a timestamp (ms since epoch)');
    let topics: string[];
    if (header.topic !== undefined && header.topic !== null) {
      const topic = topicField(header);
      if (!context.topics.get(topic)) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on broker ${context.options.brokerName}`);
      topics = [topic];
    } else {
      topics = [...new Set([...context.offsets.topicsOf(group), ...context.consumers.subscribedTopics(group)])].filter(
        (topic) => !topic.startsWith(SystemTopicPrefix.RETRY) && context.topics.get(topic) !== undefined,
      );
    }
    const offsets: ResetOffsetEntry[] = [];
    for (const topic of topics) {
      const config = context.topics.get(topic)!;
      const queueIds = new Set<number>([...context.store.queueIds(topic), ...Array.from({ length: config.readQueueNums }, (_, i) => i)]);
      for (const queueId of [...queueIds].sort((a, b) => a - b)) {
        const { minOffset, maxOffset } = queueRange(context, topic, queueId);
        const offset = target === 'EARLIEST' ? minOffset : target === 'LATEST' ? maxOffset : await context.store.getOffsetByTime(topic, queueId, timestamp);
        offsets.push({ topic, queueId, offset, previous: context.offsets.committed(group, topic, queueId) });
        context.offsets.commit(group, topic, queueId, offset);
      }
    }
    await context.offsets.persist();
    const notify: NotifyOffsetResetHeader = { group, brokerName: context.options.brokerName, offsets };
    const told = new Set<RpcConnection>();
    for (const member of context.consumers.members(group)) {
      // Broadcasting members keep their own offsets locally: a reset does not apply to them.
      if (member.consumeModel !== 'CLUSTERING' || member.connection.closed || told.has(member.connection)) continue;
      told.add(member.connection);
      member.connection.oneway(RequestCode.NOTIFY_OFFSET_RESET, notify);
    }
    context.logger.warn({ group, target, timestamp, queues: offsets.length, notified: told.size }, 'consumer offsets reset');
    const reply: ResetOffsetResponseHeader = { offsets, notifiedClients: told.size };
    return { header: reply };
  };
}
