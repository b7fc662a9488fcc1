import { LiteMQError } from '@litemq/protocol';

/**
 * Stable codes of the errors the client raises itself. Errors coming from the broker (RemoteError), the
 * transport (RemotingError) or message validation (ProtocolError) are rethrown unchanged: they already carry a
 * `code` and `retriable`.
 */
export const ClientErrorCode = {
  /** No NameServer knows a usable route (no writable/readable queue, or no master) for the topic. */
  NO_ROUTE: 'NO_ROUTE',
  /** The client was closed (or is closing) before or while the call ran. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** A call that needs `start()` ran before it. */
  NOT_STARTED: 'NOT_STARTED',
  /** Constructor or call options are invalid. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** A send failed for a reason that is not a broker or transport error (e.g. a malformed response). */
  SEND_FAILED: 'SEND_FAILED',
  /** A server answered with a response the client cannot interpret. */
  BAD_RESPONSE: 'BAD_RESPONSE',
  /** The caller's AbortSignal fired before the call completed. */
  ABORTED: 'ABORTED',
  /** A transaction had already been resolved the other way (by a check-back, the exhaustion policy or an operator). */
  TRANSACTION_CONFLICT: 'TRANSACTION_CONFLICT',
  /** A broadcasting consumer's local offset file is not a valid offset file (delete it to start over). */
  OFFSET_STORE_CORRUPT: 'OFFSET_STORE_CORRUPT',
  /** Another live process on this host holds the same local offset file (same instanceName, group and dir). */
  OFFSET_STORE_LOCKED: 'OFFSET_STORE_LOCKED',
  /** The local offset file or its directory cannot be read or written (permissions, disk...). */
  OFFSET_STORE_FAILED: 'OFFSET_STORE_FAILED',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ClientError extends LiteMQError {
  declare readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ClientError';
  }
}

export function invalidOptions(message: string): ClientError {
  return new ClientError(ClientErrorCode.INVALID_OPTIONS, message);
}

export function clientClosed(what: string): ClientError {
  return new ClientError(ClientErrorCode.CLIENT_CLOSED, `${what} is closed`);
}

export function abortedError(signal: AbortSignal): ClientError {
  return new ClientError(ClientErrorCode.ABORTED, 'the operation was aborted', { cause: signal.reason });
}
