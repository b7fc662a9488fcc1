import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/delay. */
export const DelayErrorCode = {
  /** Options failed validation; the message names the option. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** A delivery time beyond the configured maximum delay. */
  DELAY_TOO_LONG: 'DELAY_TOO_LONG',
  /** A timer or cron file is damaged beyond repair. */
  TIMER_CORRUPT: 'TIMER_CORRUPT',
  /** The timer store or scheduler is closed. */
  CLOSED: 'CLOSED',
  /** A cron job definition is invalid (expression, timezone, topic, template, policy); the message names it. */
  CRON_INVALID: 'CRON_INVALID',
  /** No cron job with that id. */
  CRON_NOT_FOUND: 'CRON_NOT_FOUND',
} as const;

export type DelayErrorCode = (typeof DelayErrorCode)[keyof typeof DelayErrorCode];

export class DelayError extends LiteMQError {
  declare readonly code: DelayErrorCode;

  constructor(code: DelayErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: code === DelayErrorCode.CLOSED, cause: options.cause });
    this.name = 'DelayError';
  }
}
