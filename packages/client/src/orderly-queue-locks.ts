import type { LockBatchRequestHeader, LockQueue, RpcClient, UnlockBatchRequestHeader } from '@litemq/protocol';
import { RequestCode, expectSuccess } from '@litemq/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import type { ProcessQueue } from './process-queue.js';
import { checkInteger } from './util.js';

const DEFAULT_LOCK_RENEW_INTERVAL_MS = 20_000;
/** Shortest renewal interval derived from a short broker lease. */
const MIN_RENEW_INTERVAL_MS = 10;

/** Monotonic time (ms) for lease bookkeeping: a wall-clock step neither stretches nor cuts a lease. */
const now = (): number => performance.now();

/** What the queue locks need from their PushConsumer (a part of OrderlyHost). */
export interface QueueLockHost {
  readonly group: string;
  readonly clientId: string;
  readonly rpc: RpcClient;
  readonly logger: ClientLogger;
  readonly requestTimeoutMs: number;
  /** Master address of the queue's broker, from the cached route. */
  brokerAddress(queue: MessageQueue): string | undefined;
  /** The process queues currently assigned. */
  assigned(): Iterable<ProcessQueue>;
  requestRebalance(): void;
}

/** What the locks tell the delivery side of the orderly service, and ask it. */
export interface QueueLockListener {
  /** Whether the queue is being released (wait, commit, unlock): it is not locked again before that ends. */
  isReleasing(key: string): boolean;
  /** A renewal extended the lock of an assigned queue: it may deliver again. */
  renewed(pq: ProcessQueue): void;
  /** Another member took the queue's lock (no longer held here): the queue stops delivering and is dropped. */
  lost(key: string, pq: ProcessQueue | undefined): void;
  /**
   * A renewal was granted, but the lease had run out before its answer came: the broker may have let another member
   * lock, consume, commit and unlock the queue meanwhile. The lock is held again, as a new lock: what this member
   * cached or was about to commit for the queue is stale (`pq`: the assigned ProcessQueue, if any).
   */
  regained(key: string, pq: ProcessQueue | undefined): void;
  /** A renewal round is over (called before the queues it could not lock get another rebalance). */
  renewalDone(): void;
}

/** A lock this client holds (or believes it holds): renewed until it is released or found lost. */
interface HeldLock {
  queue: MessageQueue;
  /** Client-side end of the lease (monotonic ms): no message is started after it. */
  until: number;
}

/**
 * The broker queue locks of an orderly consumer. A queue is locked before it is consumed (a queue another member
 * still holds is retried every renewal), and every held lock is renewed every `lockRenewIntervalMs` (at most a third
 * of the broker's lease), including the locks of queues being released, until the orderly service unlocks them or
 * leaves them to expire. A lock is valid only until its lease as seen from this client runs out.
 */
export class OrderlyQueueLocks {
  readonly lockRenewIntervalMs: number;
  /** Locks held, by queue key. */
  private readonly held = new Map<string, HeldLock>();
  /** Queue keys with a LOCK request of lock() in flight. */
  private readonly locking = new Set<string>();
  /** Queues the last rebalance wanted but could not lock (another member held them, or still being released). */
  private readonly missing = new Set<string>();
  /** Shortest lease a broker answered (ms): renewals run at most a third of it apart. */
  private leaseMs: number | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewDueAt = 0;
  /** The renewal round in progress, which stop() waits for. */
  private renewal: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly host: QueueLockHost,
    lockRenewIntervalMs: number | undefined,
    private readonly listener: QueueLockListener,
  ) {
    this.lockRenewIntervalMs = checkInteger('orderly.lockRenewIntervalMs', lockRenewIntervalMs, DEFAULT_LOCK_RENEW_INTERVAL_MS, 10);
  }

  /** Time between renewals: lockRenewIntervalMs, or a third of the shortest lease a broker answered if shorter. */
  get renewIntervalMs(): number {
    if (this.leaseMs === undefined) return this.lockRenewIntervalMs;
    return Math.max(MIN_RENEW_INTERVAL_MS, Math.min(this.lockRenewIntervalMs, Math.floor(this.leaseMs / 3)));
  }

  /** Starts renewing the locks (the consumer calls it once running). */
  start(): void {
    this.scheduleRenew();
  }

  /**
   * Stops renewing (closing): the locks left are unlocked by the service or expire. Resolves once no renewal is in
   * flight, so that an unlock sent afterwards reaches the broker after the last LOCK (which would otherwise lock
   * the queue again for a whole lease).
   */
  async stop(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    await this.renewal;
  }

  /**
   * Locks a queue before it is consumed (rebalance); false when another member holds it or this client is still
   * releasing it (its old handler still runs): retried after the release or at the next renewal.
   */
  async lock(address: string, queue: MessageQueue): Promise<boolean> {
    const key = queueKey(queue);
    if (this.listener.isReleasing(key)) {
      this.missing.add(key);
      this.host.logger.debug({ queue: key }, 'orderly: the queue is still being released; it is locked again once that is over');
      return false;
    }
    const sentAt = now();
    let reply: { locked: LockQueue[]; leaseMs: number };
    this.locking.add(key);
    try {
      reply = await this.lockBatch(address, [queue]);
    } catch (error) {
      this.missing.add(key);
      this.host.logger.warn({ queue: key, err: error }, 'orderly: cannot lock the queue; will retry');
      return false;
    } finally {
      this.locking.delete(key);
    }
    this.learnLease(reply.leaseMs);
    if (reply.locked.length === 0) {
      this.missing.add(key);
      this.host.logger.info({ queue: key }, 'orderly: the queue is locked by another member; will retry');
      return false;
    }
    this.missing.delete(key);
    this.held.set(key, { queue, until: sentAt + reply.leaseMs });
    return true;
  }

  /** Gives back a lock lock() took for a queue the consumer then did not take on (rebalance bailed out). */
  async unlock(address: string, queue: MessageQueue): Promise<void> {
    this.held.delete(queueKey(queue));
    await this.unlockBatch(address, [queue]);
  }

  /** Whether this client holds the queue's lock (its lease may have run out: see isValid). */
  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** Whether this client holds the queue's lock and its lease has not run out: only then may the queue deliver. */
  isValid(key: string): boolean {
    return (this.held.get(key)?.until ?? 0) > now();
  }

  /** Whether the last rebalance wanted the queue but could not lock it. */
  isMissing(key: string): boolean {
    return this.missing.has(key);
  }

  /** Stops holding (and renewing) a lock without unlocking it: the broker lets it expire unless unlocked. */
  drop(key: string): void {
    this.held.delete(key);
  }

  /** Stops holding every lock (closing): the ones not unlocked are left to expire. */
  clear(): void {
    this.held.clear();
  }

  /**
   * Renews every held lock, of assigned queues and of queues being released (runs every renewIntervalMs). A queue
   * whose lock another member took is dropped; queues a rebalance could not lock yet get another rebalance.
   */
  renew(): Promise<void> {
    if (this.renewal !== undefined || this.closed) return Promise.resolve();
    const renewal = this.renewRound().finally(() => {
      this.renewal = undefined;
    });
    this.renewal = renewal;
    return renewal;
  }

  private async renewRound(): Promise<void> {
    const addresses = new Set<string>();
    for (const { queue } of this.held.values()) {
      const address = this.host.brokerAddress(queue);
      if (address) addresses.add(address);
    }
    for (const address of addresses) {
      if (this.closed) return;
      // Read right before sending: a queue unlocked while an earlier broker answered must not be locked again.
      const queues = [...this.held.values()].map((lock) => lock.queue).filter((queue) => this.host.brokerAddress(queue) === address);
      if (queues.length === 0) continue;
      const sentAt = now();
      let reply: { locked: LockQueue[]; leaseMs: number };
      try {
        reply = await this.lockBatch(address, queues);
      } catch (error) {
        this.host.logger.warn({ broker: address, err: error }, 'orderly: lock renewal failed; consuming stops when the leases run out');
        continue;
      }
      if (this.closed) return;
      this.learnLease(reply.leaseMs);
      this.renewed(address, queues, reply, sentAt, now());
    }
    this.listener.renewalDone();
    if (this.missing.size > 0) {
      this.missing.clear();
      this.host.requestRebalance();
    }
  }

  /**
   * Applies a renewal's answer: leases extended, lost locks dropped, locks no longer wanted given back. A lock whose
   * lease ran out before the answer came (`answeredAt`) is a new lock, not a continuation: the broker handled the
   * request at some point after it was sent, possibly after the lease it had granted ran out, and another member may
   * have had the queue in between.
   */
  private renewed(address: string, queues: readonly MessageQueue[], reply: { locked: LockQueue[]; leaseMs: number }, sentAt: number, answeredAt: number): void {
    const locked = new Set(reply.locked.map((queue) => `${queue.topic}@${queue.queueId}`));
    const assigned = new Map<string, ProcessQueue>();
    for (const pq of this.host.assigned()) assigned.set(queueKey(pq.queue), pq);
    const unwanted: MessageQueue[] = [];
    for (const queue of queues) {
      const key = queueKey(queue);
      const lock = this.held.get(key);
      const pq = assigned.get(key);
      if (locked.has(`${queue.topic}@${queue.queueId}`)) {
        if (lock) {
          const lapsed = lock.until <= answeredAt;
          lock.until = Math.max(lock.until, sentAt + reply.leaseMs);
          if (lapsed) {
            this.host.logger.warn({ queue: key }, 'orderly: a queue lock was renewed after its lease ran out; re-reading the committed offset before consuming it again');
            this.listener.regained(key, pq);
          } else if (pq) this.listener.renewed(pq);
        } else if (!this.locking.has(key)) unwanted.push(queue); // released while the renewal was under way
      } else if (lock) {
        this.host.logger.warn({ queue: key }, 'orderly: the queue lock was lost to another member; dropping the queue');
        this.held.delete(key);
        this.listener.lost(key, pq);
      }
    }
    if (unwanted.length > 0) void this.unlockBatch(address, unwanted);
  }

  /** The broker's lease: renewals are scheduled at most a third of the shortest one apart. */
  private learnLease(leaseMs: number): void {
    if (!(leaseMs > 0) || (this.leaseMs !== undefined && leaseMs >= this.leaseMs)) return;
    this.leaseMs = leaseMs;
    if (this.renewTimer && now() + this.renewIntervalMs < this.renewDueAt) this.scheduleRenew();
  }

  private scheduleRenew(): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (this.closed) return;
    const delay = this.renewIntervalMs;
    this.renewDueAt = now() + delay;
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      void this.renew().finally(() => this.scheduleRenew());
    }, delay);
    this.renewTimer.unref();
  }

  private lockBatch(address: string, queues: readonly MessageQueue[]): Promise<{ locked: LockQueue[]; leaseMs: number }> {
    const header: LockBatchRequestHeader = { group: this.host.group, clientId: this.host.clientId, queues: queues.map(({ topic, queueId }) => ({ topic, queueId })) };
    return this.host.rpc.request(address, RequestCode.LOCK_BATCH_MQ, header, undefined, { timeoutMs: this.host.requestTimeoutMs }).then((frame) => {
      const { locked, leaseMs } = expectSuccess(frame).header;
      if (!Array.isArray(locked) || typeof leaseMs !== 'number') throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'LOCK_BATCH_MQ answered without locked and leaseMs');
      return { locked: locked.filter((q): q is LockQueue => typeof q === 'object' && q !== null && !Array.isArray(q)), leaseMs };
    });
  }

  /** Unlocks queues at their broker, one UNLOCK_BATCH_MQ each; a failure is logged (the locks expire after their lease). */
  async unlockBatch(address: string, queues: readonly MessageQueue[]): Promise<void> {
    if (queues.length === 0) return;
    const header: UnlockBatchRequestHeader = { group: this.host.group, clientId: this.host.clientId, queues: queues.map(({ topic, queueId }) => ({ topic, queueId })) };
    try {
      expectSuccess(await this.host.rpc.request(address, RequestCode.UNLOCK_BATCH_MQ, header, undefined, { timeoutMs: this.host.requestTimeoutMs }));
    } catch (error) {
      this.host.logger.warn({ broker: address, err: error }, 'orderly: unlock failed; the locks expire after their lease');
    }
  }

  /** Unlocks queues of any brokers, one batch per broker at once (a queue without a known broker is left to expire). */
  async unlockQueues(queues: Iterable<MessageQueue>): Promise<void> {
    const byAddress = new Map<string, MessageQueue[]>();
    for (const queue of queues) {
      const address = this.host.brokerAddress(queue);
      if (!address) continue;
      let list = byAddress.get(address);
      if (!list) byAddress.set(address, (list = []));
      list.push(queue);
    }
    await Promise.all([...byAddress].map(([address, list]) => this.unlockBatch(address, list)));
  }
}
