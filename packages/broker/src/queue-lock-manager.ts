import type { LockQueue } from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';

/** Default lease of a queue lock (RocketMQ's rebalance lock max live time); clients renew well within it. */
export const DEFAULT_QUEUE_LOCK_LEASE_MS = 60_000;

interface LockEntry {
  clientId: string;
  /** Last lock or renewal (ms, monotonic clock). */
  lockedAt: number;
}

/** The default clock: monotonic, so a wall-clock step never stretches or cuts a lease. */
const monotonic = (): number => performance.now();

function keyOf(topic: string, queueId: number): string {
  return `${topic}\u0000${queueId}`;
}

/**
 * Broker-side queue locks of orderly consumer groups (design brief §6): per (group, topic, queueId) at most one
 * client owns the queue. A lock is a lease: it lasts `leaseMs` after the last lock or renewal by its owner (locking
 * again renews), after which any client of the group may take it; the owner releases it with unlock. A crashed
 * consumer's locks therefore pass to a survivor one lease after its last renewal, never sooner.
 *
 * The table lives in memory, so a restarted broker does not know which client owned what while a client's lease
 * from before the restart may still run. It therefore grants no lock at all during the first `graceMs` after it was
 * created (at broker start): the broker sets that from its lock marker (queue-lock-marker.ts) to what remains of
 * the leases it may have granted before the restart — zero for a broker that never granted one. Consumers ask
 * again at their renewal interval.
 */
export class QueueLockManager {
  private readonly groups = new Map<string, Map<string, LockEntry>>();
  private lastSweep: number;
  private startedAt: number;

  constructor(
    readonly leaseMs: number,
    private readonly clock: () => number = monotonic,
    /** No lock is granted until this long after construction (or after `restartGrace`). Default: `leaseMs`. */
    public graceMs: number = leaseMs,
  ) {
    this.startedAt = clock();
    this.lastSweep = this.startedAt;
  }

  /** Replaces the start-up grace period with `graceMs` from now (once the broker knows what may still be held). */
  restartGrace(graceMs: number): void {
    this.graceMs = graceMs;
    this.startedAt = this.clock();
  }

  /** Whether the start-up grace period still runs (every LOCK is refused). */
  get inGrace(): boolean {
    return this.clock() - this.startedAt < this.graceMs;
  }

  /**
   * Locks or renews each queue for `clientId` where possible; returns the queues it now owns, in request order
   * (none during the start-up grace period).
   */
  lock(group: string, clientId: string, queues: readonly LockQueue[]): LockQueue[] {
    const now = this.clock();
    if (now - this.startedAt < this.graceMs) return [];
    if (now - this.lastSweep > this.leaseMs) this.sweep();
    let locks = this.groups.get(group);
    if (!locks) this.groups.set(group, (locks = new Map()));
    const locked: LockQueue[] = [];
    for (const queue of queues) {
      const key = keyOf(queue.topic, queue.queueId);
      const entry = locks.get(key);
      if (entry && entry.clientId !== clientId && !this.expired(entry, now)) continue;
      if (entry && entry.clientId === clientId) entry.lockedAt = now;
      else locks.set(key, { clientId, lockedAt: now });
      locked.push({ topic: queue.topic, queueId: queue.queueId });
    }
    if (locks.size === 0) this.groups.delete(group);
    return locked;
  }

  /** Releases the queues `clientId` owns (an expired lock of its own counts); returns the ones released. */
  unlock(group: string, clientId: string, queues: readonly LockQueue[]): LockQueue[] {
    const locks = this.groups.get(group);
    if (!locks) return [];
    const unlocked: LockQueue[] = [];
    for (const queue of queues) {
      const key = keyOf(queue.topic, queue.queueId);
      if (locks.get(key)?.clientId !== clientId) continue;
      locks.delete(key);
      unlocked.push({ topic: queue.topic, queueId: queue.queueId });
    }
    if (locks.size === 0) this.groups.delete(group);
    return unlocked;
  }

  /** The client holding an unexpired lock on the queue, if any. */
  owner(group: string, topic: string, queueId: number): string | undefined {
    const entry = this.groups.get(group)?.get(keyOf(topic, queueId));
    return entry && !this.expired(entry, this.clock()) ? entry.clientId : undefined;
  }

  /** Forgets expired locks (their queues are free either way; this only bounds memory). */
  sweep(): number {
    const now = this.clock();
    this.lastSweep = now;
    let removed = 0;
    for (const [group, locks] of this.groups) {
      for (const [key, entry] of locks) {
        if (!this.expired(entry, now)) continue;
        locks.delete(key);
        removed++;
      }
      if (locks.size === 0) this.groups.delete(group);
    }
    return removed;
  }

  /** Unexpired locks held, over every group. */
  get size(): number {
    const now = this.clock();
    let count = 0;
    for (const locks of this.groups.values()) for (const entry of locks.values()) if (!this.expired(entry, now)) count++;
    return count;
  }

  private expired(entry: LockEntry, now: number): boolean {
    return now - entry.lockedAt > this.leaseMs;
  }
}

const managers = new WeakMap<BrokerContext, QueueLockManager>();

/**
 * The broker's queue lock table, with the broker's `queueLockLeaseMs` (created when the LOCK_BATCH_MQ processor is,
 * at broker start: its start-up grace period counts from then).
 */
export function queueLocksOf(context: BrokerContext): QueueLockManager {
  let manager = managers.get(context);
  if (!manager) managers.set(context, (manager = new QueueLockManager(context.options.queueLockLeaseMs)));
  return manager;
}
