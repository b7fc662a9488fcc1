/**
 * Header shapes of the consumption-semantics requests (codes 80-86): send-back of failed messages
 * (retry with backoff, dead letters), dead-letter administration and offset resets.
 */

/** CONSUMER_SEND_BACK: a message the group failed to process. */
export type ConsumerSendBackRequestHeader = {
  group: string;
  /** Commit-log offset of the record as the consumer received it (original topic or `%RETRY%<group>`). */
  commitLogOffset: number;
  /** Message id, checked against the stored record. */
  msgId: string;
  /** Most retries before the dead-letter queue (default: the group's heartbeat value, then the broker's, 16). */
  maxReconsumeTimes?: number;
  /** 0 (default): backoff level chosen from reconsumeTimes; n > 0: use level n (1-based); < 0: dead-letter now. */
  delayLevel?: number;
  /** Why the handler failed; travels with the message as `$failureReason`. */
  failureReason?: string;
  /**
   * Retries the consumer already made itself (orderly consumers retry in place): the stored copy counts at least
   * this many. Default: the record's own reconsumeTimes.
   */
  reconsumeTimes?: number;
  /** Earlier failures of those in-place retries, oldest first, [timeMs, reason]: added to `$failureHistory`. */
  history?: Array<[number, string]>;
};

export type ConsumerSendBackResponseHeader = {
  outcome: 'RETRY' | 'DLQ';
  /** reconsumeTimes of the message as it will be delivered next (RETRY) or as stored (DLQ). */
  reconsumeTimes: number;
  /** When the retry is due (RETRY only). */
  deliverAt?: number;
  topic: string;
};

/** A dead-lettered message as listed by the admin requests. */
export type DlqMessageInfo = {
  brokerName: string;
  group: string;
  msgId: string;
  /** The topic the message was first published to. */
  originTopic: string;
  /** Offset in `%DLQ%<group>` queue 0. */
  dlqOffset: number;
  /** Delivery attempts made (reconsumeTimes + 1). */
  attempts: number;
  lastError: string | undefined;
  /** Failures, oldest first: [timeMs, reason]. */
  history: Array<[number, string]>;
  bornTimestamp: number;
  dlqAt: number;
  tags: string | undefined;
  keys: string[];
  properties: Record<string, string>;
  bodySize: number;
};

export type DlqListRequestHeader = { group: string; limit?: number };
export type DlqListResponseHeader = { messages: DlqMessageInfo[]; total: number };

/** DLQ_GET: one message; the response body is the message body. */
export type DlqGetRequestHeader = { group: string; msgId: string };
export type DlqGetResponseHeader = { message: DlqMessageInfo };

export type DlqResendTarget = 'RETRY' | 'ORIGIN';
/** DLQ_RESEND: re-publish messages (all when msgIds is empty) to the group's retry topic or their original topic. */
export type DlqResendRequestHeader = { group: string; msgIds: string[]; target: DlqResendTarget };
export type DlqResendResponseHeader = { resent: string[]; notFound: string[] };

/** DLQ_PURGE: hide messages (all when msgIds is empty) from list/show/resend. */
export type DlqPurgeRequestHeader = { group: string; msgIds: string[] };
export type DlqPurgeResponseHeader = { purged: number };

export type ResetOffsetTarget = 'EARLIEST' | 'LATEST' | 'TIMESTAMP';
/** RESET_OFFSET: every queue of `topic` (or of every topic the group has offsets for / subscribes to). */
export type ResetOffsetRequestHeader = { group: string; topic?: string; target: ResetOffsetTarget; timestamp?: number };
export type ResetOffsetEntry = { topic: string; queueId: number; offset: number; previous: number };
export type ResetOffsetResponseHeader = { offsets: ResetOffsetEntry[]; notifiedClients: number };

/** NOTIFY_OFFSET_RESET (broker → consumer, oneway). */
export type NotifyOffsetResetHeader = { group: string; brokerName: string; offsets: ResetOffsetEntry[] };
