import type { Logger } from 'pino';
import type { ConsumerHeartbeat, TopicConfig } from '@litemq/protocol';
import { ResponseCode, SystemTopicPrefix, TopicPerm, retryTopicOf, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';
import { BrokerErrorCode } from './errors.js';

/** The groups of a heartbeat that get a retry topic: cluster-mode user groups. */
export function needsRetryTopic(consumer: ConsumerHeartbeat): boolean {
  return consumer.consumeModel === 'CLUSTERING' && !consumer.group.startsWith('%');
}

/**
 * The `%RETRY%` and `%DLQ%` topics of consumer groups: each created once (concurrent callers share the creation), and,
 * unless the caller is trusted, a new one only while fewer than `maxConsumerGroups` topics of its kind exist, so
 * made-up group names cannot make the broker persist and register topics without bound (CONSUMER_GROUP_LIMIT).
 */
export class GroupTopics {
  /** Topics being created: in the topic table already (put sets it at once), not yet saved and registered. */
  private readonly creating = new Map<string, Promise<TopicConfig>>();

  constructor(private readonly context: BrokerContext, private readonly logger: Logger) {}

  /** Whether `topic` exists and is not still being created. */
  settled(topic: string): boolean {
    return this.context.topics.get(topic) !== undefined && !this.creating.has(topic);
  }

  /** The topic, created if missing; `limited`: refused past maxConsumerGroups topics of its kind. */
  async ensure(topic: string, limited: boolean): Promise<{ config: TopicConfig; created: boolean }> {
    const pending = this.creating.get(topic);
    if (pending) return { config: await pending, created: false };
    const existing = this.context.topics.get(topic);
    if (existing) return { config: existing, created: false };
    if (limited) this.assertRoom(topic.startsWith(SystemTopicPrefix.DLQ) ? SystemTopicPrefix.DLQ : SystemTopicPrefix.RETRY, 1);
    const creation = this.context.topics.put({ topic, readQueueNums: 1, writeQueueNums: 1, perm: TopicPerm.READ_WRITE }, { allowSystem: true });
    this.creating.set(topic, creation);
    try {
      const config = await creation;
      this.logger.info({ topic }, 'system topic created');
      return { config, created: true };
    } finally {
      this.creating.delete(topic);
    }
  }

  /** Throws CONSUMER_GROUP_LIMIT when the retry topics a heartbeat would create do not fit (checked before it records anything). */
  assertHeartbeatRoom(consumers: readonly ConsumerHeartbeat[]): void {
    const missing = new Set<string>();
    for (const consumer of consumers) {
      const topic = retryTopicOf(consumer.group);
      if (needsRetryTopic(consumer) && !this.context.topics.get(topic)) missing.add(topic);
    }
    if (missing.size > 0) this.assertRoom(SystemTopicPrefix.RETRY, missing.size);
  }

  private assertRoom(prefix: string, adding: number): void {
    const { maxConsumerGroups, brokerName } = this.context.options;
    const held = this.context.topics.countWithPrefix(prefix);
    if (held + adding <= maxConsumerGroups) return;
    throw rpcFailure(
      ResponseCode.INVALID_REQUEST,
      `broker ${brokerName} holds ${held} ${prefix} topics of consumer groups, the maximum (maxConsumerGroups ${maxConsumerGroups}): no topic for another group`,
      BrokerErrorCode.CONSUMER_GROUP_LIMIT,
    );
  }
}
