/** A message as a producer builds it. */
export interface Message {
  topic: string;
  body: Uint8Array | string;
  /** Business keys, indexed by the broker for look-up. */
  keys?: string | readonly string[];
  /** One tag, used by consumers to filter on the broker. */
  tags?: string;
  /** User properties: names of letters, digits, `_`, `-` and `.`. */
  properties?: Readonly<Record<string, string>>;
  /** Messages with the same sharding key go to the same queue and keep their order. */
  shardingKey?: string;
  /** Deliver after this many milliseconds. */
  delayMs?: number;
  /** Deliver at this time (ms since epoch or a Date). */
  deliverAt?: number | Date;
}

/**
 * Properties the system sets. They live in the same properties section as user properties; their names
 * start with `$`, which user property names may not, so the two can never collide.
 */
export const SystemProperty = {
  SHARDING_KEY: '$shardingKey',
  DELAY_MS: '$delayMs',
  DELIVER_AT: '$deliverAt',
  TRANSACTION_ID: '$txId',
  PRODUCER_GROUP: '$producerGroup',
  ORIGIN_TOPIC: '$originTopic',
  ORIGIN_QUEUE_ID: '$originQueueId',
  ORIGIN_MSG_ID: '$originMsgId',
  RETRY_GROUP: '$retryGroup',
  FAILURE_REASON: '$failureReason',
  MAX_RECONSUME_TIMES: '$maxReconsumeTimes',
  SCHEDULED_AT: '$scheduledAt',
  /** On a message in `%RETRY%<group>` / `%DLQ%<group>`: the topic it was first published to. */
  RETRY_TOPIC: '$retryTopic',
  /** Failures of a retried message, JSON `[[timeMs, reason], ...]` (most recent last, bounded). */
  FAILURE_HISTORY: '$failureHistory',
  /** Time the message was stored in the dead-letter queue. */
  DLQ_AT: '$dlqAt',
} as const;

export const SYSTEM_PROPERTY_PREFIX = '$';

/** A stored message as a consumer receives it, decoded from its record. */
export interface ReceivedMessage {
  msgId: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  body: Buffer;
  tags: string | undefined;
  keys: string[];
  /** User properties. */
  properties: Record<string, string>;
  /** System properties (names start with `$`). */
  systemProperties: Record<string, string>;
  flags: number;
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
  reconsumeTimes: number;
  preparedTxOffset: number;
}
