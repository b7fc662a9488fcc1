import { LiteMQError } from '@litemq/protocol';

/** Stable error codes of @litemq/storage. */
export const StorageErrorCode = {
  /** The store was closed, or is closing, when the call arrived. */
  STORE_CLOSED: 'STORE_CLOSED',
  /** The volume is above the refuse threshold: writes are refused rather than risk corruption. */
  DISK_FULL: 'DISK_FULL',
  /** Writing to the log failed (I/O error); nothing of the failed batch is acknowledged. */
  WRITE_FAILED: 'WRITE_FAILED',
  /** fdatasync failed: the batch is written but its durability is unknown, and the store refuses writes. */
  FLUSH_FAILED: 'FLUSH_FAILED',
  /** A single record is larger than a commit-log segment can hold. */
  RECORD_TOO_LARGE: 'RECORD_TOO_LARGE',
  /** Another process holds the store directory. */
  STORE_LOCKED: 'STORE_LOCKED',
  /** Options failed validation. */
  INVALID_OPTIONS: 'INVALID_OPTIONS',
  /** A queue id outside the supported range. */
  QUEUE_ID_INVALID: 'QUEUE_ID_INVALID',
  /** Index entries must be added in commit-log order. */
  INDEX_OUT_OF_ORDER: 'INDEX_OUT_OF_ORDER',
  /** An index file is damaged beyond use; it is set aside and rebuilt. */
  INDEX_CORRUPT: 'INDEX_CORRUPT',
} as const;

export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

const RETRIABLE: ReadonlySet<StorageErrorCode> = new Set<StorageErrorCode>([
  StorageErrorCode.DISK_FULL,
  StorageErrorCode.WRITE_FAILED,
  StorageErrorCode.STORE_CLOSED,
]);

export class StorageError extends LiteMQError {
  declare readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: RETRIABLE.has(code), cause: options.cause });
    this.name = 'StorageError';
  }
}
