/** System topic holding half messages (queue 0), invisible to consumers. */
export const TXN_HALF_TOPIC = '%TXN_HALF%';
/** System topic holding op records (queue 0): resolutions and check-backs, each referring to a half's commit-log offset. */
export const TXN_OP_TOPIC = '%TXN_OP%';
export const TXN_QUEUE_ID = 0;

/** First body byte of an op record. */
export const OpType = {
  COMMIT: 1,
  ROLLBACK: 2,
  /** A check-back was sent: persists the check count. */
  CHECK: 3,
} as const;
export type OpType = (typeof OpType)[keyof typeof OpType];

/** Minimal logger (pino-compatible); the package itself does not depend on pino. */
export interface TxnLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export const silentTxnLogger: TxnLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
