import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/broker. */
export const BrokerErrorCode = {
  /** Broker options failed validation; the message names the option. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** A persisted config file (topics, consumer offsets) cannot be parsed. */
  CONFIG_CORRUPT: 'CONFIG_CORRUPT',
  /** The broker is closed or closing. */
  BROKER_CLOSED: 'BROKER_CLOSED',
} as const;

export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends LiteMQError {
  declare readonly code: BrokerErrorCode;

  constructor(code: BrokerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: code === BrokerErrorCode.BROKER_CLOSED, cause: options.cause });
    this.name = 'BrokerError';
  }
}
