import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/broker. */
export const BrokerErrorCode = {
  /** Broker options failed validation; the message names the option. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** A persisted config file (topics, consumer offsets) cannot be parsed. */
  CONFIG_CORRUPT: 'CONFIG_CORRUPT',
  /** The broker is closed or closing. */
  BROKER_CLOSED: 'BROKER_CLOSED',
  /** No message with the given id at the given commit-log offset (never stored here, or removed by retention). */
  MESSAGE_NOT_FOUND: 'MESSAGE_NOT_FOUND',
  /** No live dead letter with the given id for the group. */
  DLQ_MESSAGE_NOT_FOUND: 'DLQ_MESSAGE_NOT_FOUND',
  /** A receipt handle that is malformed, or was not issued by this broker to this group. */
  RECEIPT_HANDLE_INVALID: 'RECEIPT_HANDLE_INVALID',
  /** The broker already holds `maxConsumerGroups` consumer groups (offsets, or retry / dead-letter topics): a new one is refused. */
  CONSUMER_GROUP_LIMIT: 'CONSUMER_GROUP_LIMIT',
  /** A heartbeat lists more than `maxGroupsPerHeartbeat` consumer or producer groups. */
  HEARTBEAT_TOO_MANY_GROUPS: 'HEARTBEAT_TOO_MANY_GROUPS',
} as const;

export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends LiteMQError {
  declare readonly code: BrokerErrorCode;

  constructor(code: BrokerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: code === BrokerErrorCode.BROKER_CLOSED, cause: options.cause });
    this.name = 'BrokerError';
  }
}
