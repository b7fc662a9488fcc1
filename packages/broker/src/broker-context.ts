import type { Logger } from 'pino';
import type { TopicConfig } from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { MessageStore } from '@litemq/storage';
import type { ConsumerManager } from './consumer-manager.js';
import type { ConsumerOffsetManager } from './consumer-offset-manager.js';
import type { LongPollingService } from './long-polling-service.js';
import type { NameServerRegistrar } from './nameserver-registrar.js';
import type { ResolvedBrokerOptions } from './options.js';
import type { ProducerManager } from './producer-manager.js';
import type { TopicConfigManager } from './topic-config-manager.js';

/** What request processors share: the broker's state, without the Broker class itself. */
export interface BrokerContext {
  readonly options: ResolvedBrokerOptions;
  readonly address: string;
  readonly startedAt: number;
  readonly store: MessageStore;
  readonly topics: TopicConfigManager;
  readonly offsets: ConsumerOffsetManager;
  readonly consumers: ConsumerManager;
  readonly producers: ProducerManager;
  readonly longPolling: LongPollingService;
  readonly registrar: NameServerRegistrar;
  readonly logger: Logger;
  /** True once close() has begun: no new long polls are held. */
  readonly closing: boolean;
  connectionCount(): number;
}

export function requireTopic(context: BrokerContext, topic: string): TopicConfig {
  const config = context.topics.get(topic);
  if (!config) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on broker ${context.options.brokerName}`);
  return config;
}

/** Min and max offsets of a queue (0, 0 before its first message). */
export function queueRange(context: BrokerContext, topic: string, queueId: number): { minOffset: number; maxOffset: number } {
  return context.store.queueOffsets(topic, queueId) ?? { minOffset: 0, maxOffset: 0 };
}

/** Clamps an offset to the queue's [min, max] range. */
export function clampOffset(context: BrokerContext, topic: string, queueId: number, offset: number): number {
  const { minOffset, maxOffset } = queueRange(context, topic, queueId);
  return Math.min(Math.max(offset, minOffset), maxOffset);
}
