/**
 * Request codes carried in the `code` field of request and oneway frames. Values are part of the wire
 * protocol: never renumber, only add. Ranges are reserved per feature so related codes stay together.
 */
export const RequestCode = {
  // 10-19: produce
  SEND_MESSAGE: 10,
  SEND_BATCH: 11,
  // 20-29: consume
  PULL_MESSAGE: 20,
  // 30-39: consumer offsets
  COMMIT_OFFSET: 30,
  QUERY_OFFSETS: 31,
  QUERY_OFFSET_BY_TIME: 32,
  // 40-49: client membership
  HEARTBEAT: 40,
  UNREGISTER_CLIENT: 41,
  GET_CONSUMER_LIST: 42,
  /** Broker → consumer (oneway): the membership of your group changed, rebalance now. */
  NOTIFY_CONSUMER_IDS_CHANGED: 43,
  /** Consumer-group offsets and lag for every queue of a group's topics. */
  GET_CONSUMER_OFFSETS: 44,
  /** Orderly consumer → broker: lock or renew queues of its group (a lease; headers in rpc-headers-lock.ts). */
  LOCK_BATCH_MQ: 45,
  /** Orderly consumer → broker: release queue locks it owns (rebalanced away, or closing). */
  UNLOCK_BATCH_MQ: 46,
  // 50-59: topics
  CREATE_TOPIC: 50,
  DELETE_TOPIC: 51,
  GET_TOPIC_CONFIG: 52,
  LIST_TOPICS: 53,
  // 60-69: delayed and cron messages (headers in rpc-headers-delay.ts)
  /** Cancel a scheduled (delayed) message before it fires, by message id. */
  CANCEL_SCHEDULED: 60,
  /** Create or replace a cron job. */
  CRON_PUT: 61,
  CRON_DELETE: 62,
  CRON_PAUSE: 63,
  CRON_RESUME: 64,
  CRON_LIST: 65,
  /** Preview a job's next fire times. */
  CRON_NEXT: 66,
  // 70-79: transactions
  SEND_HALF: 70,
  END_TRANSACTION: 71,
  /** Broker → producer: what became of this transaction? (answered with END_TRANSACTION) */
  CHECK_TRANSACTION_STATE: 72,
  LIST_PENDING_TRANSACTIONS: 73,
  FORCE_END_TRANSACTION: 74,
  // 80-89: retry, dead-letter queues and offset resets (headers in rpc-headers-consume.ts)
  /** Consumer → broker: this message failed; schedule it on `%RETRY%<group>` with backoff, or dead-letter it. */
  CONSUMER_SEND_BACK: 80,
  DLQ_LIST: 81,
  DLQ_GET: 82,
  DLQ_RESEND: 83,
  DLQ_PURGE: 84,
  /** Admin → broker: set a group's offsets to earliest, latest or a timestamp. */
  RESET_OFFSET: 85,
  /** Broker → consumer (oneway): your group's offsets were reset; drop cached messages and re-read offsets. */
  NOTIFY_OFFSET_RESET: 86,
  // 90-99: pop consumption (headers in rpc-headers-pop.ts)
  /** Simple consumer → broker: take up to maxCount visible messages, invisible to the group for invisibleMs. */
  POP_MESSAGE: 90,
  /** Simple consumer → broker: a popped message is processed (by its receipt handle). */
  ACK_MESSAGE: 91,
  /** Simple consumer → broker: restart a popped message's invisibility from now; answers a new receipt handle. */
  CHANGE_INVISIBLE_TIME: 92,
  // 100-109: name server
  REGISTER_BROKER: 100,
  UNREGISTER_BROKER: 101,
  GET_ROUTE: 102,
  GET_CLUSTER_INFO: 103,
  // 110+: admin
  GET_BROKER_STATUS: 110,
} as const;

export type RequestCode = (typeof RequestCode)[keyof typeof RequestCode];

const requestCodeNames = new Map<number, string>(Object.entries(RequestCode).map(([name, code]) => [code, name]));

/** Name of a request code for logs and metrics labels, e.g. `SEND_MESSAGE`, or `UNKNOWN(77)`. */
export function requestCodeName(code: number): string {
  return requestCodeNames.get(code) ?? `UNKNOWN(${code})`;
}
