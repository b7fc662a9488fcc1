import { LiteMQError } from '@litemq/protocol';

export const ServerErrorCode = {
  /** The configuration file, environment or flags hold an unknown key or a bad value. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** The configuration file could not be read or is not valid TOML. */
  CONFIG_UNREADABLE: 'CONFIG_UNREADABLE',
} as const;

export type ServerErrorCode = (typeof ServerErrorCode)[keyof typeof ServerErrorCode];

export class ServerError extends LiteMQError {
  constructor(code: ServerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: false, cause: options.cause });
    this.name = 'ServerError';
  }
}
