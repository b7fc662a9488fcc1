import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/txn. */
export const TxnErrorCode = {
  /** Transaction options failed validation; the message names the option. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** No half message (pending or resolved) at that offset with that message id. */
  TRANSACTION_NOT_FOUND: 'TRANSACTION_NOT_FOUND',
  /** The record is not a valid half message (flag, topic, queue or transaction fields). */
  HALF_INVALID: 'HALF_INVALID',
  /** The transaction service is closed or closing. */
  TXN_CLOSED: 'TXN_CLOSED',
} as const;

export type TxnErrorCode = (typeof TxnErrorCode)[keyof typeof TxnErrorCode];

export class TxnError extends LiteMQError {
  declare readonly code: TxnErrorCode;

  constructor(code: TxnErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: code === TxnErrorCode.TXN_CLOSED, cause: options.cause });
    this.name = 'TxnError';
  }
}
