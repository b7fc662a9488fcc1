import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/nameserver (safe to switch on, never reworded). */
export const NameServerErrorCode = {
  /** NameServer or registry options failed validation. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
} as const;

export type NameServerErrorCode = (typeof NameServerErrorCode)[keyof typeof NameServerErrorCode];

/** Errors the NameServer raises locally (bad options). Never retriable. */
export class NameServerError extends LiteMQError {
  declare readonly code: NameServerErrorCode;

  constructor(code: NameServerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: false, cause: options.cause });
    this.name = 'NameServerError';
  }
}
