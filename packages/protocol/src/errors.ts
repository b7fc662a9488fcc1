/**
 * Typed errors of @litemq/protocol. Every error LiteMQ raises about bad input carries a stable `code`
 * string (safe to switch on, never reworded) and whether retrying the same call may succeed.
 */
export const ProtocolErrorCode = {
  /** A frame's declared length is below the minimum or above the configured maximum. */
  FRAME_LENGTH_INVALID: 'FRAME_LENGTH_INVALID',
  /** A frame was cut short: its declared sections do not fit inside it. */
  FRAME_TRUNCATED: 'FRAME_TRUNCATED',
  /** A frame carries a protocol version this build does not speak. */
  FRAME_VERSION_UNSUPPORTED: 'FRAME_VERSION_UNSUPPORTED',
  /** A frame's flags or header are malformed (bad msgpack, header not a map, unknown flag bits). */
  FRAME_MALFORMED: 'FRAME_MALFORMED',
  /** A message record's structure is inconsistent (lengths, magic, version). */
  RECORD_MALFORMED: 'RECORD_MALFORMED',
  /** A message record's checksum does not match its bytes. */
  RECORD_CRC_MISMATCH: 'RECORD_CRC_MISMATCH',
  /** A message body is larger than the allowed maximum. */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** Message properties (keys, tags, user and system properties) exceed the allowed size. */
  PROPERTIES_TOO_LARGE: 'PROPERTIES_TOO_LARGE',
  /** A message field has an invalid value (empty body type, bad delay, bad property name...). */
  MESSAGE_INVALID: 'MESSAGE_INVALID',
  /** A topic name breaks the naming rules. */
  TOPIC_NAME_INVALID: 'TOPIC_NAME_INVALID',
  /** A consumer or producer group name breaks the naming rules. */
  GROUP_NAME_INVALID: 'GROUP_NAME_INVALID',
  /** A message id string is not a valid LiteMQ message id. */
  MESSAGE_ID_INVALID: 'MESSAGE_ID_INVALID',
  /** A subscription filter expression (SQL subset) is malformed; the message gives the position of the problem. */
  FILTER_EXPRESSION_INVALID: 'FILTER_EXPRESSION_INVALID',
  /** A pop receipt handle string is malformed or names no in-flight message of the group. */
  RECEIPT_HANDLE_INVALID: 'RECEIPT_HANDLE_INVALID',
} as const;

/** Transport-level failures of a request; all but ABORTED may succeed on a retry or on another server. */
export const RemotingErrorCode = {
  /** No response arrived within the request's timeout; the outcome is unknown. */
  RPC_TIMEOUT: 'RPC_TIMEOUT',
  /** The connection closed before the response arrived; the outcome is unknown. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** The TCP connection could not be established. */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** The caller's AbortSignal fired. */
  REQUEST_ABORTED: 'REQUEST_ABORTED',
  /** Too many requests in flight on this connection. */
  TOO_MANY_IN_FLIGHT: 'TOO_MANY_IN_FLIGHT',
} as const;

export type RemotingErrorCode = (typeof RemotingErrorCode)[keyof typeof RemotingErrorCode];

export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** Base class of every error LiteMQ packages throw on purpose. */
export class LiteMQError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LiteMQError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Raised for malformed frames, records, names and messages. Never retriable: the input itself is wrong. */
export class ProtocolError extends LiteMQError {
  declare readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: false, cause: options.cause });
    this.name = 'ProtocolError';
  }
}

export class RemotingError extends LiteMQError {
  declare readonly code: RemotingErrorCode;

  constructor(code: RemotingErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: code !== RemotingErrorCode.REQUEST_ABORTED, cause: options.cause });
    this.name = 'RemotingError';
  }
}

/**
 * A server answered with an error response. `code` is the response code's name (e.g. `TOPIC_NOT_EXIST`),
 * `responseCode` its number, and `retriable` says whether sending again (maybe elsewhere) is safe.
 */
export class RemoteError extends LiteMQError {
  constructor(
    code: string,
    readonly responseCode: number,
    message: string,
    retriable: boolean,
  ) {
    super(code, message, { retriable });
    this.name = 'RemoteError';
  }
}

export function isLiteMQError(value: unknown): value is LiteMQError {
  return value instanceof LiteMQError;
}
