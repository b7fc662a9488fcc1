/**
 * Header shapes of the orderly-consumption queue locks (request codes 45-46). A consumer of an orderly group
 * processes a queue only while it holds the broker's lock on (group, topic, queueId); the lock is a lease the
 * owner renews by locking again, released by UNLOCK_BATCH_MQ or when the lease runs out.
 */

/** One queue of this broker. */
export type LockQueue = { topic: string; queueId: number };

/**
 * LOCK_BATCH_MQ: lock (or renew) these queues for `clientId` in `group`. A queue is granted when it is free, its
 * lease expired, or `clientId` already owns it (the lease restarts).
 */
export type LockBatchRequestHeader = { group: string; clientId: string; queues: LockQueue[] };
/** The queues actually locked by `clientId` (a subset of the request), and the lease the broker applied. */
export type LockBatchResponseHeader = { locked: LockQueue[]; leaseMs: number };

/** UNLOCK_BATCH_MQ: release these queues; only the ones `clientId` owns are released. */
export type UnlockBatchRequestHeader = { group: string; clientId: string; queues: LockQueue[] };
export type UnlockBatchResponseHeader = { unlocked: LockQueue[] };
