import type {
  ConsumerSendBackRequestHeader, LockBatchRequestHeader, LockQueue, ReceivedMessage, RpcClient, UnlockBatchRequestHeader,
} from '@litemq/protocol';
import { RequestCode, SystemProperty, expectSuccess } from '@litemq/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import type { CachedMessage, ProcessQueue } from './process-queue.js';
import { failureReasonOf } from './retry-message.js';
import { checkInteger, sleep } from './util.js';

/** Retries in place of an orderly consumer before a message goes to the DLQ (each one holds its queue up). */
export const ORDERLY_DEFAULT_MAX_RECONSUME_TIMES = 5;
const DEFAULT_SUSPEND_MS = 1000;
const DEFAULT_LOCK_RENEW_INTERVAL_MS = 20_000;
/** Shortest renewal interval derived from a short broker lease. */
const MIN_RENEW_INTERVAL_MS = 10;
/** How often a released queue whose handler still runs says so (its lock is kept and renewed meanwhile). */
const RELEASE_WARN_MS = 10_000;
/** Commit attempts of a queue before it is unlocked (a queue whose offset could not be committed is not unlocked). */
const COMMIT_ATTEMPTS = 3;
const COMMIT_RETRY_MS = 200;

/** Monotonic time (ms) for lease bookkeeping: a wall-clock step neither stretches nor cuts a lease. */
const now = (): number => performance.now();

/** Tuning of `PushConsumerOptions.orderly` (`orderly: true` takes every default). */
export interface OrderlyConsumeOptions {
  /** Pause of a queue after its message failed, before the message is retried in place, in ms. Default 1000. */
  suspendMs?: number;
  /**
   * How often the consumer renews its queue locks and retries the ones another member still held, in ms; never
   * longer than a third of the broker's lease (`queueLockLeaseMs`, answered with every lock). Default 20 000.
   */
  lockRenewIntervalMs?: number;
}

/** What the orderly service needs from its PushConsumer. */
export interface OrderlyHost {
  readonly group: string;
  readonly clientId: string;
  readonly rpc: RpcClient;
  readonly logger: ClientLogger;
  readonly requestTimeoutMs: number;
  /** Messages in the handler at once, over every queue. */
  readonly concurrency: number;
  /** Whether the consumer is running (not closing). */
  isRunning(): boolean;
  /** Master address of the queue's broker, from the cached route. */
  brokerAddress(queue: MessageQueue): string | undefined;
  /** The process queues currently assigned. */
  assigned(): Iterable<ProcessQueue>;
  messageOf(pq: ProcessQueue, entry: CachedMessage): ReceivedMessage;
  handle(message: ReceivedMessage): Promise<void> | void;
  /** The configured retry limit for this message (option number or function), if any. */
  maxReconsumeTimes(message: ReceivedMessage): number | undefined;
  /** Commits the queues' offsets (sets `lastCommitted` of each queue committed); rejects if a broker failed. */
  commit(pqs: ProcessQueue[]): Promise<void>;
  /** Drops an assigned queue whose lock another member now holds (a later rebalance may take it again). */
  forget(pq: ProcessQueue): void;
  requestRebalance(): void;
}

/** Delivery state of a queue, by queue key: it outlives a ProcessQueue, so a queue taken again waits for its old handler. */
interface QueueState {
  /** A message of the queue is in the handler, suspended before a retry, or being dead-lettered. */
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  idleWaiters: Array<() => void>;
  /** The queue's newest ProcessQueue: the one put back in the ready set when the queue is idle again. */
  current: ProcessQueue | undefined;
}

/** A lock this client holds (or believes it holds): renewed until it is released or found lost. */
interface HeldLock {
  queue: MessageQueue;
  /** Client-side end of the lease (monotonic ms): no message is started after it. */
  until: number;
}

/**
 * Orderly consumption (design brief §6): each assigned queue is processed strictly serially, in offset order,
 * and only while this client holds the broker's lock on it. Locks are taken before a queue is consumed (a queue
 * another member still holds is retried every renewal), renewed every `lockRenewIntervalMs` (at most a third of
 * the broker's lease), and released when the queue is rebalanced away or the consumer closes: after the message in
 * flight finished (the lock is renewed meanwhile, however long it takes) and the offset was committed; a queue
 * whose offset cannot be committed is not unlocked (its lease runs out instead). A queue being released is not
 * locked again until the release is over, and a queue's delivery state is kept per queue, not per ProcessQueue,
 * so a queue never has two messages in the handler. A failing message is retried in place after `suspendMs`, up to
 * maxReconsumeTimes, then dead-lettered through CONSUMER_SEND_BACK (never the retry topic) and the queue moves on.
 */
export class OrderlyConsumeService {
  readonly suspendMs: number;
  readonly lockRenewIntervalMs: number;
  private readonly states = new Map<string, QueueState>();
  private readonly readyQueues = new Set<ProcessQueue>();
  /** Locks held, by queue key. */
  private readonly held = new Map<string, HeldLock>();
  /** Queue keys with a LOCK request of lock() in flight. */
  private readonly locking = new Set<string>();
  /** Queues the last rebalance wanted but could not lock (another member held them, or still being released). */
  private readonly missing = new Set<string>();
  /** Releases in progress (wait, commit, unlock), by queue key: the queue is not locked again before they end. */
  private readonly releases = new Map<string, Promise<void>>();
  /** Earlier in-place failures of each failing message, [timeMs, reason]. */
  private readonly failures = new WeakMap<CachedMessage, Array<[number, string]>>();
  private readonly deadLettering = new Set<Promise<void>>();
  /** Shortest lease a broker answered (ms): renewals run at most a third of it apart. */
  private leaseMs: number | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewDueAt = 0;
  private running = 0;
  private idleWaiter: (() => void) | undefined;
  private renewing = false;
  private closed = false;

  constructor(
    private readonly host: OrderlyHost,
    options: OrderlyConsumeOptions,
  ) {
    this.suspendMs = checkInteger('orderly.suspendMs', options.suspendMs, DEFAULT_SUSPEND_MS, 0, 3_600_000);
    this.lockRenewIntervalMs = checkInteger('orderly.lockRenewIntervalMs', options.lockRenewIntervalMs, DEFAULT_LOCK_RENEW_INTERVAL_MS, 10);
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

  // --- locks -------------------------------------------------------------------------------------------

  /**
   * Locks a queue before it is consumed (rebalance); false when another member holds it or this client is still
   * releasing it (its old handler still runs): retried after the release or at the next renewal.
   */
  async lock(address: string, queue: MessageQueue): Promise<boolean> {
    const key = queueKey(queue);
    if (this.releases.has(key)) {
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

  /**
   * Renews every held lock, of assigned queues and of queues being released (runs every renewIntervalMs). A queue
   * whose lock another member took is dropped; queues a rebalance could not lock yet get another rebalance.
   */
  async renew(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    try {
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
        this.renewed(address, queues, reply, sentAt);
      }
      // Forget the state of idle queues no longer consumed.
      for (const [key, state] of this.states) if (this.forgettable(key, state)) this.states.delete(key);
      this.pump();
      if (this.missing.size > 0) {
        this.missing.clear();
        this.host.requestRebalance();
      }
    } finally {
      this.renewing = false;
    }
  }

  /** Applies a renewal's answer: leases extended, lost locks dropped, locks no longer wanted given back. */
  private renewed(address: string, queues: readonly MessageQueue[], reply: { locked: LockQueue[]; leaseMs: number }, sentAt: number): void {
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
          lock.until = Math.max(lock.until, sentAt + reply.leaseMs);
          if (pq?.hasReady && !pq.dropped) this.readyQueues.add(pq);
        } else if (!this.locking.has(key)) unwanted.push(queue); // released while the renewal was under way
      } else if (lock) {
        this.host.logger.warn({ queue: key }, 'orderly: the queue lock was lost to another member; dropping the queue');
        this.held.delete(key);
        this.cancelSuspend(key);
        if (pq) {
          this.readyQueues.delete(pq);
          this.host.forget(pq);
        }
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

  /**
   * Queues no longer consumed (already dropped): each one, in the background, finishes its message in flight
   * (its lock renewed meanwhile), commits its offset (`commit: false` after an admin reset the offsets), then
   * unlocks, so the next owner starts exactly after the last processed message.
   */
  release(pqs: readonly ProcessQueue[], options: { commit?: boolean } = {}): void {
    for (const pq of pqs) {
      const key = queueKey(pq.queue);
      this.readyQueues.delete(pq);
      const previous = this.releases.get(key);
      const done = (async () => {
        if (previous) await previous;
        await this.releaseOne(pq, options.commit ?? true);
      })().catch((error: unknown) => this.host.logger.warn({ queue: key, err: error }, 'orderly: releasing the queue failed'));
      this.releases.set(key, done);
      void done.finally(() => {
        if (this.releases.get(key) !== done) return;
        this.releases.delete(key);
        // A rebalance that wanted the queue back meanwhile was refused: take it now.
        if (this.missing.has(key) && !this.closed) this.host.requestRebalance();
      });
    }
  }

  private async releaseOne(pq: ProcessQueue, commit: boolean): Promise<void> {
    const key = queueKey(pq.queue);
    this.cancelSuspend(key);
    await this.whenIdle(key);
    const state = this.states.get(key);
    if (state && this.forgettable(key, state)) this.states.delete(key);
    if (!this.held.has(key)) return; // lost to another member meanwhile: not ours to commit or unlock
    if (!this.lockValid(key)) {
      this.held.delete(key);
      this.host.logger.warn({ queue: key }, 'orderly: the lease of a released queue ran out (renewals failed); not committing, the lock is left to expire');
      return;
    }
    if (commit && !(await this.commitWithRetry([pq])).includes(pq)) {
      this.held.delete(key);
      this.host.logger.warn({ queue: key }, 'orderly: the offset of a released queue could not be committed; the lock is left to expire (the next owner replays from the last commit)');
      return;
    }
    this.held.delete(key);
    const address = this.host.brokerAddress(pq.queue);
    if (address) await this.unlockBatch(address, [pq.queue]);
    this.host.logger.debug({ queue: key }, 'orderly: queue released');
  }

  /**
   * Closing: stops delivering, waits for the messages in flight, commits, and unlocks every queue whose offset was
   * committed (the others' locks are left to expire). Nothing is committed after its queue was unlocked.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    this.readyQueues.clear();
    for (const key of this.states.keys()) this.cancelSuspend(key);
    if (this.running > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    await Promise.allSettled([...this.deadLettering]);
    await Promise.allSettled([...this.releases.values()]);
    // Only queues still locked: committing one whose lease ran out could rewind its next owner's offset.
    const assigned = [...this.host.assigned()].filter((pq) => this.lockValid(queueKey(pq.queue)));
    const committed = new Set(await this.commitWithRetry(assigned));
    const left = assigned.filter((pq) => !committed.has(pq));
    if (left.length > 0) {
      this.host.logger.warn({ queues: left.map((pq) => queueKey(pq.queue)) }, 'orderly: final offset commit failed; those locks are left to expire');
    }
    await Promise.all([...this.byAddress([...committed])].map(([address, pqs]) => this.unlockBatch(address, pqs.map((pq) => pq.queue))));
    this.held.clear();
    this.states.clear();
  }

  /** Commits the queues, retrying the ones not committed; returns those committed (or with nothing to commit). */
  private async commitWithRetry(pqs: readonly ProcessQueue[]): Promise<ProcessQueue[]> {
    const isCommitted = (pq: ProcessQueue): boolean => pq.consumedOffset() < 0 || pq.consumedOffset() === pq.lastCommitted;
    let pending = pqs.filter((pq) => !isCommitted(pq));
    for (let attempt = 1; pending.length > 0; attempt++) {
      await this.host.commit(pending).catch((error: unknown) => this.host.logger.warn({ attempt, err: error }, 'orderly: offset commit failed'));
      pending = pending.filter((pq) => !isCommitted(pq));
      if (pending.length === 0 || attempt >= COMMIT_ATTEMPTS) break;
      await sleep(COMMIT_RETRY_MS * attempt);
      pending = pending.filter((pq) => this.lockValid(queueKey(pq.queue)));
    }
    return pqs.filter(isCommitted);
  }

  private lockBatch(address: string, queues: readonly MessageQueue[]): Promise<{ locked: LockQueue[]; leaseMs: number }> {
    const header: LockBatchRequestHeader = { group: this.host.group, clientId: this.host.clientId, queues: queues.map(({ topic, queueId }) => ({ topic, queueId })) };
    return this.host.rpc.request(address, RequestCode.LOCK_BATCH_MQ, header, undefined, { timeoutMs: this.host.requestTimeoutMs }).then((frame) => {
      const { locked, leaseMs } = expectSuccess(frame).header;
      if (!Array.isArray(locked) || typeof leaseMs !== 'number') throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'LOCK_BATCH_MQ answered without locked and leaseMs');
      return { locked: locked.filter((q): q is LockQueue => typeof q === 'object' && q !== null && !Array.isArray(q)), leaseMs };
    });
  }

  private async unlockBatch(address: string, queues: readonly MessageQueue[]): Promise<void> {
    if (queues.length === 0) return;
    const header: UnlockBatchRequestHeader = { group: this.host.group, clientId: this.host.clientId, queues: queues.map(({ topic, queueId }) => ({ topic, queueId })) };
    try {
      expectSuccess(await this.host.rpc.request(address, RequestCode.UNLOCK_BATCH_MQ, header, undefined, { timeoutMs: this.host.requestTimeoutMs }));
    } catch (error) {
      this.host.logger.warn({ broker: address, err: error }, 'orderly: unlock failed; the locks expire after their lease');
    }
  }

  private byAddress(pqs: Iterable<ProcessQueue>): Map<string, ProcessQueue[]> {
    const out = new Map<string, ProcessQueue[]>();
    for (const pq of pqs) {
      const address = this.host.brokerAddress(pq.queue);
      if (!address) continue;
      let list = out.get(address);
      if (!list) out.set(address, (list = []));
      list.push(pq);
    }
    return out;
  }

  private lockValid(key: string): boolean {
    return (this.held.get(key)?.until ?? 0) > now();
  }

  // --- delivery ----------------------------------------------------------------------------------------

  /** The queue has messages to deliver (called by the pull loop). */
  ready(pq: ProcessQueue): void {
    if (this.closed || pq.dropped) return;
    this.readyQueues.add(pq);
    this.pump();
  }

  /** The queue's delivery state (by queue key), with `pq` as its current ProcessQueue. */
  private state(pq: ProcessQueue): QueueState {
    const key = queueKey(pq.queue);
    let state = this.states.get(key);
    if (!state) this.states.set(key, (state = { busy: false, timer: undefined, idleWaiters: [], current: pq }));
    state.current = pq;
    return state;
  }

  /** Whether a queue's state can go: idle, and its ProcessQueue dropped (a new one starts from scratch). */
  private forgettable(key: string, state: QueueState): boolean {
    return !state.busy && state.timer === undefined && (state.current?.dropped ?? true) && !this.releases.has(key);
  }

  /** Starts the next message of ready queues that are idle and locked, up to `concurrency` in the handler. */
  private pump(): void {
    while (this.running < this.host.concurrency && !this.closed && this.host.isRunning()) {
      let started = false;
      for (const pq of this.readyQueues) {
        this.readyQueues.delete(pq);
        if (pq.dropped) continue;
        const state = this.state(pq);
        // Busy, maybe with a message of an earlier ProcessQueue of this queue: back in the set when it is idle.
        if (state.busy) continue;
        if (!this.lockValid(queueKey(pq.queue))) continue; // back in the set when the lock is renewed
        const entry = pq.takeReady();
        if (!entry) continue;
        this.deliver(pq, state, entry);
        started = true;
        break;
      }
      if (!started) return;
    }
  }

  private deliver(pq: ProcessQueue, state: QueueState, entry: CachedMessage): void {
    state.busy = true;
    this.running++;
    let message: ReceivedMessage;
    try {
      message = this.host.messageOf(pq, entry);
    } catch (error) {
      this.host.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: error }, 'cannot decode a message; skipping it');
      pq.complete(entry);
      this.settle(state, true);
      return;
    }
    let outcome: Promise<void> | void;
    try {
      outcome = this.host.handle(message);
    } catch (error) {
      outcome = Promise.reject(error as Error);
    }
    if (outcome === undefined) {
      // A synchronous handler returned: processed now (pump's loop goes on with the next message).
      pq.complete(entry);
      this.failures.delete(entry);
      this.settle(state, true);
      return;
    }
    Promise.resolve(outcome).then(
      () => {
        pq.complete(entry);
        this.failures.delete(entry);
        this.settle(state, true);
        this.pump();
      },
      (error: unknown) => {
        this.failed(pq, state, entry, message, error);
        this.pump();
      },
    );
  }

  /** The handler is done with a message of the queue; `idle`: the queue may deliver its next message. */
  private settle(state: QueueState, idle: boolean): void {
    this.running--;
    if (idle) this.makeIdle(state);
    if (this.running === 0 && this.idleWaiter) {
      const resolve = this.idleWaiter;
      this.idleWaiter = undefined;
      resolve();
    }
  }

  private makeIdle(state: QueueState): void {
    state.busy = false;
    for (const wake of state.idleWaiters.splice(0)) wake();
    const pq = state.current;
    if (pq?.hasReady && !pq.dropped && !this.closed) this.readyQueues.add(pq);
  }

  private failed(pq: ProcessQueue, state: QueueState, entry: CachedMessage, message: ReceivedMessage, error: unknown): void {
    entry.failures++;
    if (this.closed || pq.dropped || !this.host.isRunning()) {
      // Not retried here: the message stays uncommitted, so the queue's next owner (or a restart) gets it again.
      this.settle(state, true);
      return;
    }
    const reason = failureReasonOf(error);
    const history = this.failures.get(entry) ?? [];
    this.failures.set(entry, history);
    history.push([Date.now(), reason]);
    const max = this.maxFor(message);
    const key = queueKey(pq.queue);
    if (entry.failures > max) {
      this.settle(state, false);
      this.deadLetter(pq, state, entry, message, max, reason, history.slice(0, -1));
      return;
    }
    this.host.logger.warn(
      { queue: key, offset: entry.offset, msgId: message.msgId, failures: entry.failures, maxReconsumeTimes: max, suspendMs: this.suspendMs, err: error },
      'orderly: message processing failed; retrying in place',
    );
    pq.requeue(entry);
    this.settle(state, false);
    this.suspend(pq, state);
  }

  /** Keeps the queue busy for suspendMs, then lets it deliver again (the failed message first). */
  private suspend(pq: ProcessQueue, state: QueueState, then?: () => void): void {
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (then && !this.closed && !pq.dropped) {
        then();
        return;
      }
      this.makeIdle(state);
      this.pump();
    }, this.suspendMs);
  }

  private cancelSuspend(key: string): void {
    const state = this.states.get(key);
    if (!state?.timer) return;
    clearTimeout(state.timer);
    state.timer = undefined;
    this.makeIdle(state);
  }

  private maxFor(message: ReceivedMessage): number {
    const perMessage = Number(message.systemProperties[SystemProperty.MAX_RECONSUME_TIMES]);
    if (Number.isInteger(perMessage) && perMessage >= 0) return perMessage;
    const configured = this.host.maxReconsumeTimes(message);
    return configured !== undefined && Number.isInteger(configured) && configured >= 0 ? configured : ORDERLY_DEFAULT_MAX_RECONSUME_TIMES;
  }

  /**
   * Stores the message in `%DLQ%<group>` (CONSUMER_SEND_BACK with delayLevel -1, the retries and failure history
   * made here) and moves the queue on. If the broker cannot take it, the send is retried after suspendMs: the
   * queue never skips a message it could not dead-letter.
   */
  private deadLetter(pq: ProcessQueue, state: QueueState, entry: CachedMessage, message: ReceivedMessage, max: number, reason: string, history: Array<[number, string]>): void {
    const key = queueKey(pq.queue);
    const header: ConsumerSendBackRequestHeader = {
      group: this.host.group, commitLogOffset: message.commitLogOffset, msgId: message.msgId, failureReason: reason, delayLevel: -1, maxReconsumeTimes: max,
      reconsumeTimes: message.reconsumeTimes, history,
    };
    const done = (async () => {
      const address = this.host.brokerAddress(pq.queue);
      try {
        if (!address) throw new ClientError(ClientErrorCode.NO_ROUTE, `no master for broker ${pq.queue.brokerName}`, { retriable: true });
        const frame = expectSuccess(await this.host.rpc.request(address, RequestCode.CONSUMER_SEND_BACK, header, undefined, { timeoutMs: this.host.requestTimeoutMs }));
        this.host.logger.warn(
          { queue: key, offset: entry.offset, msgId: message.msgId, attempts: entry.failures, topic: frame.header.topic },
          'orderly: message dead-lettered after its in-place retries; the queue moves on',
        );
        pq.complete(entry);
        this.failures.delete(entry);
        this.makeIdle(state);
        this.pump();
      } catch (error) {
        this.host.logger.warn({ queue: key, offset: entry.offset, msgId: message.msgId, err: error }, 'orderly: dead-lettering failed; retrying');
        if (this.closed || pq.dropped || !this.host.isRunning()) {
          this.makeIdle(state);
          return;
        }
        this.suspend(pq, state, () => this.deadLetter(pq, state, entry, message, max, reason, history));
      }
    })();
    this.deadLettering.add(done);
    void done.finally(() => this.deadLettering.delete(done));
  }

  /**
   * Resolves once no message of the queue is in flight or being dead-lettered, however long that takes (the lock is
   * renewed meanwhile: another member must not start the queue beside a running handler); warns while it waits.
   */
  private async whenIdle(key: string): Promise<void> {
    const state = this.states.get(key);
    if (!state?.busy) return;
    const startedAt = now();
    const warn = setInterval(() => {
      this.host.logger.warn({ queue: key, waitedMs: Math.round(now() - startedAt) }, 'orderly: a released queue still waits for its handler; its lock is kept until the handler returns');
    }, RELEASE_WARN_MS);
    warn.unref();
    try {
      await new Promise<void>((resolve) => state.idleWaiters.push(resolve));
    } finally {
      clearInterval(warn);
    }
  }
}
