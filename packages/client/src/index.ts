export { Producer } from './producer.js';
export type { ProducerOptions, SendOptions } from './producer.js';
export type { SendResult, SendStatus } from './send-result.js';
export { PushConsumer } from './push-consumer.js';
export type { MessageHandler, PushConsumerOptions } from './push-consumer.js';
export { Admin } from './admin.js';
export type { AdminOptions, CallOptions, ConsumerOffsets, CreateTopicOptions, GroupQueueOffset, QueueOffsets, TopicSummary } from './admin.js';
export { ClientError, ClientErrorCode } from './errors.js';
export type { ClientLogger } from './logger.js';
export type { MessageQueue } from './message-queue.js';
export { allocateAveragely } from './allocate.js';
export { parseTagExpression, tagMatches } from './tag-expression.js';
export type { TagFilter } from './tag-expression.js';
// Re-exported so applications need only this package for messages and error handling.
export { LiteMQError, ProtocolError, RemoteError, RemotingError } from '@litemq/protocol';
export type { ConsumeFromWhere, Message, ReceivedMessage } from '@litemq/protocol';
