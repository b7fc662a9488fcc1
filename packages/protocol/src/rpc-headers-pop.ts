/**
 * Header shapes of pop consumption (request codes 90-92): a simple consumer takes messages from a broker's
 * queues for a while (`invisibleMs`), then acknowledges each by its receipt handle, or lets the broker deliver it
 * again. No rebalance: any number of pop consumers of a group share every queue.
 */
import type { ConsumeFromWhere } from './rpc-headers.js';

/** Shortest invisible duration a pop or a change may ask for, in ms. */
export const POP_MIN_INVISIBLE_MS = 100;
/** Longest invisible duration a pop or a change may ask for, in ms (12 hours). */
export const POP_MAX_INVISIBLE_MS = 12 * 3_600_000;
/** Most messages one POP_MESSAGE may return. */
export const POP_MAX_COUNT = 1_024;

/** One subscribed topic of a pop request with its filter (no tags and no sql: every message). */
export type PopSubscription = {
  topic: string;
  /** Exact tags to match (`a || b` is `['a', 'b']`); absent or empty: every tag. */
  tags?: string[];
  /** SQL-92 subset over the properties (see parseSqlFilter), checked on the broker. */
  sql?: string;
};

/**
 * POP_MESSAGE: up to `maxCount` visible messages of the subscribed topics' queues on this broker, and of the
 * group's retry queue (`%RETRY%<group>`, unfiltered: those messages matched when first delivered). Each returned
 * message is invisible to the whole group for `invisibleMs`; unacknowledged by then, it is delivered again with
 * reconsumeTimes + 1, or dead-lettered after maxReconsumeTimes.
 */
export type PopMessageRequestHeader = {
  group: string;
  subscriptions: PopSubscription[];
  maxCount: number;
  invisibleMs: number;
  /** Hold the request up to this long when nothing is visible (long polling; capped by the broker). 0 = answer at once. */
  pollMs?: number;
  /** Where a queue the group has no offset for starts. Default LAST_OFFSET. */
  fromWhere?: ConsumeFromWhere;
  /** Start time (ms since epoch) for fromWhere TIMESTAMP. */
  timestamp?: number;
  /** Retries before the dead-letter queue for the messages of this pop (default: the group's, then the broker's). */
  maxReconsumeTimes?: number;
};

/**
 * SUCCESS, with `count` records in the body (possibly 0) exactly as stored, and for each, in order, its receipt
 * handle. Messages from the retry queue are stored on `%RETRY%<group>` with their first topic in `$retryTopic`.
 */
export type PopMessageResponseHeader = {
  count: number;
  handles: string[];
  /** When the messages become visible again unless acknowledged (ms since epoch). */
  invisibleUntil: number;
  brokerName: string;
};

/** ACK_MESSAGE: the message of `handle` is processed and will not be delivered again. Acknowledging twice is harmless. */
export type AckMessageRequestHeader = { group: string; handle: string };
export type AckMessageResponseHeader = { msgId: string };

/**
 * CHANGE_INVISIBLE_TIME: the message stays invisible for `invisibleMs` from now; `handle` stops being valid and the
 * response carries the one to use from now on.
 */
export type ChangeInvisibleTimeRequestHeader = { group: string; handle: string; invisibleMs: number };
export type ChangeInvisibleTimeResponseHeader = { handle: string; invisibleUntil: number; msgId: string };
