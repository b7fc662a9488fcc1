/**
 * Header shapes of every request and response, the contract between clients, brokers and NameServers.
 * Headers are small msgpack maps; message bytes always travel in the frame body as records.
 * Declared as `type` aliases so they are assignable to FrameHeader.
 */

export type ConsumeModel = 'CLUSTERING' | 'BROADCASTING';
export type ConsumeFromWhere = 'LAST_OFFSET' | 'FIRST_OFFSET' | 'TIMESTAMP';
/** How a consumer takes messages: PUSH (PushConsumer: pulls the queues rebalanced to it) or POP (SimpleConsumer). */
export type ConsumeType = 'PUSH' | 'POP';

/** Permission bits of a topic on a broker. */
export const TopicPerm = { READ: 4, WRITE: 2, READ_WRITE: 6 } as const;

export type TopicConfig = {
  topic: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
};

// --- producer → broker -------------------------------------------------------------------------------

/** SEND_MESSAGE / SEND_BATCH: the body is one or more concatenated records (queue id set in each). */
export type SendRequestHeader = { producerGroup?: string };
/**
 * SUCCESS (or FLUSH_DISK_TIMEOUT / SLAVE_NOT_AVAILABLE: stored, durability unconfirmed). The body holds
 * `count` pairs of [u64 queueOffset][u64 commitLogOffset] in record order: no object per message.
 */
export type SendResponseHeader = { count: number; storeTimestamp: number; brokerName: string };
export const SEND_RESULT_ENTRY_BYTES = 16;

// --- consumer → broker -------------------------------------------------------------------------------

export type PullRequestHeader = {
  group: string;
  topic: string;
  queueId: number;
  offset: number;
  maxCount: number;
  maxBytes?: number;
  /** Tag hashes to match (empty or absent: every tag). */
  tagHashes?: number[];
  /** Hold the request up to this long when there is nothing new (long polling). 0 = answer at once. */
  suspendMs?: number;
  /** Piggy-backed offset commit for this queue (-1 or absent: none). */
  commitOffset?: number;
  /** SQL property filter (see parseSqlFilter): the broker drops records it rejects; nextOffset still advances. */
  sql?: string;
};
/** SUCCESS carries records in the body; PULL_NOT_FOUND and PULL_OFFSET_MOVED carry no body. */
export type PullResponseHeader = { nextOffset: number; minOffset: number; maxOffset: number; count: number };

export type OffsetCommit = { topic: string; queueId: number; offset: number };
export type CommitOffsetRequestHeader = { group: string; offsets: OffsetCommit[] };

export type QueryOffsetsRequestHeader = { topic: string; queueId: number; group?: string };
/** committedOffset is -1 when the group has none. */
export type QueryOffsetsResponseHeader = { minOffset: number; maxOffset: number; committedOffset: number };

export type QueryOffsetByTimeRequestHeader = { topic: string; queueId: number; timestamp: number };
export type QueryOffsetByTimeResponseHeader = { offset: number };

/** `expression` is the tag expression; `sql` the optional SQL property filter. */
export type SubscriptionData = { topic: string; expression: string; sql?: string };
export type ConsumerHeartbeat = {
  group: string;
  consumeModel: ConsumeModel;
  fromWhere: ConsumeFromWhere;
  subscriptions: SubscriptionData[];
  /** The group's retry limit before the dead-letter queue (default 16). */
  maxReconsumeTimes?: number;
  /** Default PUSH. A group's live members all have one type (else CONSUME_TYPE_CONFLICT); only PUSH members get queues. */
  consumeType?: ConsumeType;
};
export type HeartbeatRequestHeader = {
  clientId: string;
  producerGroups: string[];
  consumers: ConsumerHeartbeat[];
};
export type UnregisterClientRequestHeader = { clientId: string; producerGroup?: string; consumerGroup?: string };
export type GetConsumerListRequestHeader = { group: string };
export type GetConsumerListResponseHeader = { clientIds: string[] };
export type NotifyConsumerIdsChangedHeader = { group: string };

export type QueueOffsetStatus = { topic: string; queueId: number; minOffset: number; maxOffset: number; committedOffset: number; lag: number };
export type GetConsumerOffsetsRequestHeader = { group: string; topic?: string };
export type GetConsumerOffsetsResponseHeader = { group: string; queues: QueueOffsetStatus[] };

// --- admin → broker ----------------------------------------------------------------------------------

export type CreateTopicRequestHeader = TopicConfig;
export type DeleteTopicRequestHeader = { topic: string };
export type GetTopicConfigRequestHeader = { topic: string };
export type GetTopicConfigResponseHeader = TopicConfig;
export type ListTopicsResponseHeader = { topics: TopicConfig[] };
export type BrokerStatusResponseHeader = {
  brokerName: string;
  brokerId: number;
  clusterName: string;
  address: string;
  minCommitLogOffset: number;
  maxCommitLogOffset: number;
  flushedOffset: number;
  topics: number;
  connections: number;
  uptimeMs: number;
};

// --- broker ↔ NameServer ---------------------------------------------------------------------------------

export type RegisterBrokerRequestHeader = {
  clusterName: string;
  brokerName: string;
  /** 0 = master. */
  brokerId: number;
  brokerAddr: string;
  haAddr: string;
  dataVersion: number;
  /** The broker creates unknown topics on first send. */
  autoCreateTopic: boolean;
  topics: TopicConfig[];
};
export type UnregisterBrokerRequestHeader = { clusterName: string; brokerName: string; brokerId: number; brokerAddr: string };

export type BrokerData = { clusterName: string; brokerName: string; addrs: Record<string, string> };
export type QueueData = { brokerName: string; readQueueNums: number; writeQueueNums: number; perm: number };
export type GetRouteRequestHeader = { topic: string };
/** `autoCreated` marks a route offered by brokers with autoCreateTopic for a topic none of them has yet. */
export type TopicRouteData = { topic: string; brokers: BrokerData[]; queues: QueueData[]; autoCreated?: boolean };

export type BrokerLiveInfo = {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  haAddr: string;
  lastUpdateTimestamp: number;
  dataVersion: number;
  topicCount: number;
};
export type ClusterInfo = { clusters: Record<string, string[]>; brokers: BrokerLiveInfo[] };
