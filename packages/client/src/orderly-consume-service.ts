import type { ConsumerSendBackRequestHeader, ReceivedMessage } from '@litemq/protocol';
import { RequestCode, expectSuccess } from '@litemq/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import type { QueueLockHost } from './orderly-queue-locks.js';
import { OrderlyQueueLocks } from './orderly-queue-locks.js';
import type { CachedMessage, ProcessQueue } from './process-queue.js';
import type { MaxReconsumeTimesOption } from './retry-message.js';
import { failureReasonOf, retryLimitOf } from './retry-message.js';
import { checkInteger, sleep } from './util.js';

/** Retries in place of an orderly consumer before a message goes to the DLQ (each one holds its queue up). */
export const ORDERLY_DEFAULT_MAX_RECONSUME_TIMES = 5;
const DEFAULT_SUSPEND_MS = 1000;
/** How often a released queue whose handler still runs says so (its lock is kept and renewed meanwhile). */
const RELEASE_WARN_MS = 10_000;
/** Commit attempts of a queue before it is unlocked (a queue whose offset could not be committed is not unlocked). */
const COMMIT_ATTEMPTS = 3;
const COMMIT_RETRY_MS = 200;

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

/** What the orderly service needs from its PushConsumer (its queue locks need the QueueLockHost part). */
export interface OrderlyHost extends QueueLockHost {
  /** Messages in the handler at once, over every queue. */
  readonly concurrency: number;
  /** Whether the consumer is running (not closing). */
  isRunning(): boolean;
  messageOf(pq: ProcessQueue, entry: CachedMessage): ReceivedMessage;
  handle(message: ReceivedMessage): Promise<void> | void;
  /** The consumer's `maxReconsumeTimes` option (number or per-message function), if any. */
  readonly maxReconsumeTimes: MaxReconsumeTimesOption | undefined;
  /** Commits the queues' offsets (sets `lastCommitted` of each queue committed); rejects if a broker failed. */
  commit(pqs: ProcessQueue[]): Promise<void>;
  /** Drops an assigned queue whose lock another member now holds (a later rebalance may take it again). */
  forget(pq: ProcessQueue): void;
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
 * The lock bookkeeping (lock, renew, unlock, lease validity) is OrderlyQueueLocks (orderly-queue-locks.ts).
 */
export class OrderlyConsumeService {
  readonly suspendMs: number;
  private readonly locks: OrderlyQueueLocks;
  private readonly states = new Map<string, QueueState>();
  private readonly readyQueues = new Set<ProcessQueue>();
  /** Releases in progress (wait, commit, unlock), by queue key: the queue is not locked again before they end. */
  private readonly releases = new Map<string, Promise<void>>();
  /** Queues being released whose lock lapsed and was granted again meanwhile: their offset is not committed. */
  private readonly staleReleases = new Set<string>();
  /** Earlier in-place failures of each failing message, [timeMs, reason]. */
  private readonly failures = new WeakMap<CachedMessage, Array<[number, string]>>();
  private readonly deadLettering = new Set<Promise<void>>();
  private running = 0;
  private idleWaiter: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly host: OrderlyHost,
    options: OrderlyConsumeOptions,
  ) {
    this.suspendMs = checkInteger('orderly.suspendMs', options.suspendMs, DEFAULT_SUSPEND_MS, 0, 3_600_000);
    this.locks = new OrderlyQueueLocks(host, options.lockRenewIntervalMs, {
      isReleasing: (key) => this.releases.has(key),
      renewed: (pq) => {
        if (pq.hasReady && !pq.dropped) this.readyQueues.add(pq);
      },
      lost: (key, pq) => {
        this.cancelSuspend(key);
        if (pq) {
          this.readyQueues.delete(pq);
          this.host.forget(pq);
        }
      },
      regained: (key, pq) => {
        // The lease ran out before the renewal was granted: another member may have consumed the queue and committed
        // meanwhile. Like a new lock: the ProcessQueue's cached position is dropped and a rebalance takes the queue
        // again from the committed offset (after the old handler, if any, returned); a release in progress does not
        // commit its stale offset.
        if (this.releases.has(key)) this.staleReleases.add(key);
        this.cancelSuspend(key);
        if (pq) {
          this.readyQueues.delete(pq);
          this.host.forget(pq);
        }
      },
      renewalDone: () => {
        // Forget the state of idle queues no longer consumed.
        for (const [key, state] of this.states) if (this.forgettable(key, state)) this.states.delete(key);
        this.pump();
      },
    });
  }

  /** Starts renewing the locks (the consumer calls it once running). */
  start(): void {
    this.locks.start();
  }

  // --- locks and releases ------------------------------------------------------------------------------

  /**
   * Locks a queue before it is consumed (rebalance); false when another member holds it or this client is still
   * releasing it (its old handler still runs): retried after the release or at the next renewal.
   */
  lock(address: string, queue: MessageQueue): Promise<boolean> {
    return this.locks.lock(address, queue);
  }

  /** Gives back a lock lock() took for a queue the consumer then did not take on (rebalance bailed out). */
  unlock(address: string, queue: MessageQueue): Promise<void> {
    return this.locks.unlock(address, queue);
  }

  /** Whether this member holds the queue's lock and its lease has not run out: only then may its offset be committed. */
  lockValid(queue: MessageQueue): boolean {
    return this.locks.isValid(queueKey(queue));
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
        try {
          await this.releaseOne(pq, options.commit ?? true);
        } finally {
          this.staleReleases.delete(key);
        }
      })().catch((error: unknown) => this.host.logger.warn({ queue: key, err: error }, 'orderly: releasing the queue failed'));
      this.releases.set(key, done);
      void done.finally(() => {
        if (this.releases.get(key) !== done) return;
        this.releases.delete(key);
        // A rebalance that wanted the queue back meanwhile was refused: take it now.
        if (this.locks.isMissing(key) && !this.closed) this.host.requestRebalance();
      });
    }
  }

  private async releaseOne(pq: ProcessQueue, commit: boolean): Promise<void> {
    const key = queueKey(pq.queue);
    this.cancelSuspend(key);
    await this.whenIdle(key);
    const state = this.states.get(key);
    if (state && this.forgettable(key, state)) this.states.delete(key);
    if (!this.locks.holds(key)) return; // lost to another member meanwhile: not ours to commit or unlock
    if (!this.locks.isValid(key)) {
      this.locks.drop(key);
      this.host.logger.warn({ queue: key }, 'orderly: the lease of a released queue ran out (renewals failed); not committing, the lock is left to expire');
      return;
    }
    if (this.staleReleases.has(key)) {
      commit = false;
      this.host.logger.warn({ queue: key }, 'orderly: the lease of a released queue ran out before it was renewed; unlocking it without committing');
    }
    if (commit && !(await this.commitWithRetry([pq])).includes(pq)) {
      this.locks.drop(key);
      this.host.logger.warn({ queue: key }, 'orderly: the offset of a released queue could not be committed; the lock is left to expire (the next owner replays from the last commit)');
      return;
    }
    this.locks.drop(key);
    const address = this.host.brokerAddress(pq.queue);
    if (address) await this.locks.unlockBatch(address, [pq.queue]);
    this.host.logger.debug({ queue: key }, 'orderly: queue released');
  }

  /**
   * Closing: stops delivering, waits for the messages in flight, dead-letter sends and releases while it keeps
   * renewing the locks (like a release: a handler running past the lease must not let another member start the
   * queue beside it), then stops renewing, commits, and unlocks every queue whose offset was committed (the others'
   * locks are left to expire). Nothing is committed after its queue was unlocked.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.readyQueues.clear();
    for (const key of this.states.keys()) this.cancelSuspend(key);
    if (this.running > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    await Promise.allSettled([...this.deadLettering]);
    await Promise.allSettled([...this.releases.values()]);
    // Waits for a renewal in flight: an unlock sent before its LOCK reached the broker would be undone by it.
    await this.locks.stop();
    this.readyQueues.clear();
    // Only queues still locked: committing one whose lease ran out could rewind its next owner's offset.
    const assigned = [...this.host.assigned()].filter((pq) => this.locks.isValid(queueKey(pq.queue)));
    const committed = new Set(await this.commitWithRetry(assigned));
    const left = assigned.filter((pq) => !committed.has(pq));
    if (left.length > 0) {
      this.host.logger.warn({ queues: left.map((pq) => queueKey(pq.queue)) }, 'orderly: final offset commit failed; those locks are left to expire');
    }
    await this.locks.unlockQueues([...committed].map((pq) => pq.queue));
    this.locks.clear();
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
      pending = pending.filter((pq) => this.locks.isValid(queueKey(pq.queue)));
    }
    return pqs.filter(isCommitted);
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
        if (!this.locks.isValid(queueKey(pq.queue))) continue; // back in the set when the lock is renewed
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
    Promise.resolve(outcome)
      .then(
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
      )
      .catch((error: unknown) => this.host.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: error }, 'orderly: completing a message failed'));
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

  /**
   * A handler failed: retry in place after suspendMs, or dead-letter once the retries are used up. Whatever happens
   * here, the handler slot is given back (settle) exactly once and the queue is left idle, suspended or dead-lettering,
   * never busy for good: that would block the queue and make close() wait forever.
   */
  private failed(pq: ProcessQueue, state: QueueState, entry: CachedMessage, message: ReceivedMessage, error: unknown): void {
    entry.failures++;
    let settled = false;
    try {
      if (this.closed || pq.dropped || !this.host.isRunning()) return; // not retried here: the message stays uncommitted, so the queue's next owner (or a restart) gets it again
      const reason = failureReasonOf(error); // never throws, whatever the handler threw
      const history = this.failures.get(entry) ?? [];
      this.failures.set(entry, history);
      history.push([Date.now(), reason]);
      const max = this.maxFor(message, pq, entry); // never throws: the default limit if it cannot be computed
      const key = queueKey(pq.queue);
      if (entry.failures > max) {
        this.settle(state, false);
        settled = true;
        this.deadLetter(pq, state, entry, message, max, reason, history.slice(0, -1));
        return;
      }
      pq.requeue(entry);
      this.settle(state, false);
      settled = true;
      this.suspend(pq, state);
      this.host.logger.warn(
        { queue: key, offset: entry.offset, msgId: message.msgId, failures: entry.failures, maxReconsumeTimes: max, suspendMs: this.suspendMs, err: error },
        'orderly: message processing failed; retrying in place',
      );
    } catch (failure) {
      this.host.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: failure }, 'orderly: handling a failed message failed; retrying it in place');
      if (!settled && !this.closed && !pq.dropped) {
        // Retry in place, as for any failure: the queue never skips a message.
        pq.requeue(entry);
        this.settle(state, false);
        settled = true;
        this.suspend(pq, state);
      }
    } finally {
      if (!settled) this.settle(state, true);
    }
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

  /** The message's retry limit: its `$maxReconsumeTimes`, else the option's, else the orderly default. Never throws. */
  private maxFor(message: ReceivedMessage, pq: ProcessQueue, entry: CachedMessage): number {
    const where = { queue: queueKey(pq.queue), offset: entry.offset };
    return retryLimitOf(message, this.host.maxReconsumeTimes, { ownFirst: true, logger: this.host.logger, where }) ?? ORDERLY_DEFAULT_MAX_RECONSUME_TIMES;
  }

  /**
   * Stores the message in `%DLQ%<group>` (CONSUMER_SEND_BACK with delayLevel -1, the retries and failure history
   * made here) and moves the queue on. If the broker cannot take it, the send is retried after suspendMs: the
   * queue never skips a message it could not dead-letter.
   */
  private deadLetter(pq: ProcessQueue, state: QueueState, entry: CachedMessage, message: ReceivedMessage, max: number, reason: string, history: Array<[number, string]>): void {
    const key = queueKey(pq.queue);
    const done = (async () => {
      try {
        // Built in here: anything that throws retries the dead-lettering instead of leaving the queue busy for good.
        const header: ConsumerSendBackRequestHeader = {
          group: this.host.group, commitLogOffset: message.commitLogOffset, msgId: message.msgId, failureReason: reason, delayLevel: -1, maxReconsumeTimes: max,
          reconsumeTimes: message.reconsumeTimes, history,
        };
        const address = this.host.brokerAddress(pq.queue);
        if (!address) throw new ClientError(ClientErrorCode.NO_ROUTE, `no master for broker ${pq.queue.brokerName}`, { retriable: true });
        const frame = expectSuccess(await this.host.rpc.request(address, RequestCode.CONSUMER_SEND_BACK, header, undefined, { timeoutMs: this.host.requestTimeoutMs }));
        this.host.logger.warn(
          { queue: key, offset: entry.offset, msgId: header.msgId, attempts: entry.failures, topic: frame.header.topic },
          'orderly: message dead-lettered after its in-place retries; the queue moves on',
        );
        pq.complete(entry);
        this.failures.delete(entry);
        this.makeIdle(state);
        this.pump();
      } catch (error) {
        this.host.logger.warn({ queue: key, offset: entry.offset, err: error }, 'orderly: dead-lettering failed; retrying');
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
    const startedAt = performance.now();
    const warn = setInterval(() => {
      this.host.logger.warn({ queue: key, waitedMs: Math.round(performance.now() - startedAt) }, 'orderly: a released queue still waits for its handler; its lock is kept until the handler returns');
    }, RELEASE_WARN_MS);
    warn.unref();
    try {
      await new Promise<void>((resolve) => state.idleWaiters.push(resolve));
    } finally {
      clearInterval(warn);
    }
  }
}
