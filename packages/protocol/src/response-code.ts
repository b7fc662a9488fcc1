/**
 * Response codes carried in the `code` field of response frames. Values are part of the wire protocol:
 * never renumber, only add. Ranges are reserved per feature so related codes stay together.
 */
export const ResponseCode = {
  SUCCESS: 0,
  // 1-9: generic
  /** Unexpected failure while handling the request; its outcome is unknown. */
  SYSTEM_ERROR: 1,
  /** The server shed load and rejected the request before doing any work. Retriable after a backoff. */
  SYSTEM_BUSY: 2,
  REQUEST_CODE_NOT_SUPPORTED: 3,
  /** The request's header or body is missing fields or has invalid values. */
  INVALID_REQUEST: 4,
  NO_PERMISSION: 5,
  /** The server is starting, shutting down or not serving this role; retriable, possibly elsewhere. */
  SERVICE_NOT_AVAILABLE: 6,
  // 10-19: topics and groups
  TOPIC_NOT_EXIST: 10,
  /**
   * The request would mix consume types in one consumer group: a pop (SimpleConsumer) request or heartbeat for a
   * group with live push members, or a push heartbeat or pull for a group with live pop members.
   */
  CONSUME_TYPE_CONFLICT: 11,
  // 20-29: send
  /** A message record failed validation (size, CRC, properties, names). */
  MESSAGE_ILLEGAL: 20,
  /** The message was appended but not flushed in time: stored, durability unconfirmed. Not retried (duplicates). */
  FLUSH_DISK_TIMEOUT: 21,
  /** The message was stored on the master but no slave confirmed it. Not retried to avoid duplicates. */
  SLAVE_NOT_AVAILABLE: 22,
  /** The broker refuses writes because its disk is nearly full; another broker may accept them. */
  DISK_FULL: 23,
  // 30-39: pull
  /** No message at or after the requested offset yet (not an error: long-poll or try later). */
  PULL_NOT_FOUND: 30,
  /** The requested offset is outside the queue's range; the response header carries the next valid offset. */
  PULL_OFFSET_MOVED: 31,
  // 40-49: offsets
  /** The group has no committed offset for the queue. */
  OFFSET_NOT_FOUND: 40,
  // 60-69: delayed and cron messages (reserved)
  // 70-79: transactions
  /** No half message (pending or resolved) at that offset with that message id. */
  TRANSACTION_NOT_FOUND: 70,
  // 80-89: retry and dead-letter queues (reserved)
  // 90-99: pop consumption
  /** The receipt handle's invisible time has passed: the message is (or will be) delivered again. */
  RECEIPT_HANDLE_EXPIRED: 90,
  /** The receipt handle was replaced by changeInvisibleDuration (use the new one), or the message was acknowledged. */
  RECEIPT_HANDLE_STALE: 91,
  // 100-109: name server (reserved)
  // 110+: admin (reserved)
} as const;

export type ResponseCode = (typeof ResponseCode)[keyof typeof ResponseCode];

/** Codes meaning the request was rejected before taking effect, so retrying (possibly on another broker) is safe. */
const RETRIABLE_RESPONSE_CODES: ReadonlySet<number> = new Set<number>([
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.DISK_FULL,
]);

/** Whether a failed request may succeed if sent again (after a backoff, possibly to another broker). */
export function isRetriableResponse(code: number): boolean {
  return RETRIABLE_RESPONSE_CODES.has(code);
}

const responseCodeNames = new Map<number, string>(Object.entries(ResponseCode).map(([name, code]) => [code, name]));

/** Name of a response code for logs and metrics labels, e.g. `SYSTEM_BUSY`, or `UNKNOWN(77)`. */
export function responseCodeName(code: number): string {
  return responseCodeNames.get(code) ?? `UNKNOWN(${code})`;
}
