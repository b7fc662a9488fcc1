/**
 * Header shapes of the transaction requests (request codes 70-79). The half record travels in the frame
 * body (SEND_HALF, CHECK_TRANSACTION_STATE); END_TRANSACTION and the admin requests carry no body.
 */

export type TransactionResolution = 'COMMIT' | 'ROLLBACK';
/** What a local transaction or a checker answers: UNKNOWN leaves the decision to a later check-back. */
export type LocalTransactionState = TransactionResolution | 'UNKNOWN';

/** System property of a half message: its own check immunity in ms (default: the broker's immunity time). */
export const TXN_CHECK_IMMUNITY_PROPERTY = '$txImmunityMs';

/** SEND_HALF: the body is one record with the TX_PREPARED flag, its real topic and queue id set. */
export type SendHalfRequestHeader = { producerGroup: string; transactionId: string };
/** SUCCESS: where the half was stored; END_TRANSACTION refers to it by `halfOffset`. */
export type SendHalfResponseHeader = { halfOffset: number; msgId: string; brokerName: string; storeTimestamp: number };

export type EndTransactionRequestHeader = {
  producerGroup: string;
  transactionId: string;
  /** Commit-log offset of the half message. */
  halfOffset: number;
  msgId: string;
  resolution: TransactionResolution;
  /** Sent in answer to a CHECK_TRANSACTION_STATE. */
  fromCheck?: boolean;
};
/**
 * SUCCESS. `outcome` is how the transaction ended (UNKNOWN: it ended before this broker start and the outcome
 * is no longer remembered); `applied` is false when it had already been resolved and this request changed nothing.
 */
export type EndTransactionResponseHeader = { outcome: TransactionResolution | 'UNKNOWN'; applied: boolean };

/** Broker → producer request; the body is the half record. The producer acknowledges at once and answers with END_TRANSACTION. */
export type CheckTransactionStateRequestHeader = { producerGroup: string; transactionId: string; halfOffset: number; msgId: string };

export type ListPendingTransactionsRequestHeader = { limit?: number; producerGroup?: string; topic?: string };
export type PendingTransactionInfo = {
  halfOffset: number;
  msgId: string;
  transactionId: string;
  producerGroup: string;
  topic: string;
  queueId: number;
  /** ms since the half was stored. */
  ageMs: number;
  /** Check-backs sent so far. */
  checks: number;
  /** Checks are exhausted and the policy is `keep`: waiting for an operator. */
  exhausted: boolean;
};
export type ListPendingTransactionsResponseHeader = { total: number; transactions: PendingTransactionInfo[] };

/** FORCE_END_TRANSACTION: by `halfOffset`, or by `msgId` (looked up among the pending halves). */
export type ForceEndTransactionRequestHeader = { halfOffset?: number; msgId?: string; resolution: TransactionResolution };
export type ForceEndTransactionResponseHeader = EndTransactionResponseHeader & { halfOffset: number; msgId: string };

/** Most halves or ends one batched SEND_HALF / END_TRANSACTION frame may carry. */
export const MAX_TXN_BATCH = 1024;

/** A per-item failure inside a batched response (the other items succeeded). */
export type TxnBatchItemError = { index: number; code: number; error: string; errorCode: string };

/**
 * Batched SEND_HALF: the body is `transactionIds.length` prepared records back to back (record i belongs to
 * transaction i). A half keeps the message id of its record.
 */
export type SendHalfBatchRequestHeader = { producerGroup: string; transactionIds: string[] };
/** SUCCESS of the frame; `halfOffsets[i]` is -1 for an item listed in `errors`. */
export type SendHalfBatchResponseHeader = { brokerName: string; halfOffsets: number[]; storeTimestamps: number[]; errors?: TxnBatchItemError[] };

/** Batched END_TRANSACTION (never fromCheck): item i resolves the half at `halfOffsets[i]` with id `msgIds[i]`. */
export type EndTransactionBatchRequestHeader = { producerGroup: string; halfOffsets: number[]; msgIds: string[]; resolutions: TransactionResolution[] };
/** SUCCESS of the frame; `outcomes[i]` is UNKNOWN and `applied[i]` false for an item listed in `errors`. */
export type EndTransactionBatchResponseHeader = { outcomes: Array<TransactionResolution | 'UNKNOWN'>; applied: boolean[]; errors?: TxnBatchItemError[] };
