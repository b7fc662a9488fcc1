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
/** How long a released queue waits for its message in flight before it is unlocked anyway (or left to expire). */
const RELEASE_WAIT_MS = 10_000;

/** Tuning of `PushConsumerOptions.orderly` (`orderly: true` takes every default). */
export interface OrderlyConsumeOptions {
  /** Pause of a queue after its message failed, before the message is retried in place, in ms. Default 1000. */
  suspendMs?: number;
  /**
   * How often the consumer renews its queue locks and retries the ones another member still held, in ms. Keep it
   * well under the broker's `queueLockLeaseMs` (default 60 000). Default 20 000.
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
  commit(pqs: ProcessQueue[]): Promise<void>;
  /** Drops an assigned queue whose lock another member now holds (a later rebalance may take it again). */
  forget(pq: ProcessQueue): void;
  requestRebalance(): void;
}

interface QueueState {
  /** A message of the queue is in the handler, suspended before a retry, or being dead-lettered. */
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  idleWaiters: Array<() => void>;
}

/**
 * Orderly consumption (design brief §6): each assigned queue is processed strictly serially, in offset order,
 * and only while this client holds the broker's lock on it. Locks are taken before a queue is consumed (a queue
 * another member still holds is retried every `lockRenewIntervalMs`), renewed on that interval, released after the
 * message in flight finished and the offset was committed when the queue is rebalanced away or the consumer
 * closes. A failing message is retried in place after `suspendMs`, up to maxReconsumeTimes, then dead-lettered
 * through CONSUMER_SEND_BACK (never the retry topic) and the queue moves on.
 */
export class OrderlyConsumeService {
  readonly suspendMs: number;
  readonly lockRenewIntervalMs: number;
  private readonly states = new Map<ProcessQueue, QueueState>();
  private readonly readyQueues = new Set<ProcessQueue>();
  /** Client-side end of each held lock's lease (ms), by queue key: no message is started after it. */
  private readonly lockedUntil = new Map<string, number>();
  /** Queues the last rebalance wanted but could not lock (another member held them). */
  private readonly missing = new Set<string>();
  /** Releases in progress (wait, commit, unlock), by queue key: locking that queue again waits for it. */
  private readonly releases = new Map<string, Promise<void>>();
  /** Earlier in-place failures of each failing message, [timeMs, reason]. */
  private readonly failures = new WeakMap<CachedMessage, Array<[number, string]>>();
  private readonly deadLettering = new Set<Promise<void>>();
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

  // --- locks -------------------------------------------------------------------------------------------

  /** Locks a queue before it is consumed (rebalance); false when another member holds it (retried later). */
  async lock(address: string, queue: MessageQueue): Promise<boolean> {
    const key = queueKey(queue);
    const release = this.releases.get(key);
    if (release) await release;
    const sentAt = Date.now();
    let locked: LockQueue[];
    let leaseMs: number;
    try {
      ({ locked, leaseMs } = await this.lockBatch(address, [queue]));
    } catch (error) {
      this.missing.add(key);
      this.host.logger.warn({ queue: key, err: error }, 'orderly: cannot lock the queue; will retry');
      return false;
    }
    if (locked.length === 0) {
      this.missing.add(key);
      this.host.logger.info({ queue: key }, 'orderly: the queue is locked by another member; will retry');
      return false;
    }
    this.missing.delete(key);
    this.lockedUntil.set(key, sentAt + leaseMs);
    return true;
  }

  /**
   * Renews the locks of every assigned queue (run every lockRenewIntervalMs). A queue whose lock another member
   * took is dropped; queues a rebalance could not lock yet get another rebalance.
   */
  async renew(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    try {
      for (const [address, pqs] of this.byAddress(this.host.assigned())) {
        const sentAt = Date.now();
        let reply: { locked: LockQueue[]; leaseMs: number };
        try {
          reply = await this.lockBatch(address, pqs.map((pq) => pq.queue));
        } catch (error) {
          this.host.logger.warn({ broker: address, err: error }, 'orderly: lock renewal failed; consuming stops when the leases run out');
          continue;
        }
        if (this.closed) return;
        const locked = new Set(reply.locked.map((queue) => `${queue.topic}@${queue.queueId}`));
        for (const pq of pqs) {
          if (pq.dropped) continue;
          const key = queueKey(pq.queue);
          if (locked.has(`${pq.queue.topic}@${pq.queue.queueId}`)) {
            this.lockedUntil.set(key, sentAt + reply.leaseMs);
            if (pq.hasReady) this.readyQueues.add(pq);
          } else {
            this.host.logger.warn({ queue: key }, 'orderly: the queue lock was lost to another member; dropping the queue');
            this.lockedUntil.delete(key);
            this.readyQueues.delete(pq);
            this.cancelSuspend(pq);
            this.host.forget(pq);
          }
        }
      }
      // Forget idle queues dropped without a release (lock lost, offsets reset by an admin).
      for (const [pq, state] of this.states) if (pq.dropped && !state.busy) this.states.delete(pq);
      this.pump();
      if (this.missing.size > 0) {
        this.missing.clear();
        this.host.requestRebalance();
      }
    } finally {
      this.renewing = false;
    }
  }

  /**
   * Queues rebalanced away (already dropped): each one, in the background, finishes its message in flight,
   * commits its offset, then unlocks, so the next owner starts exactly after the last processed message.
   */
  release(pqs: readonly ProcessQueue[]): void {
    for (const pq of pqs) {
      const key = queueKey(pq.queue);
      this.readyQueues.delete(pq);
      const done = this.releaseOne(pq).catch((error: unknown) => this.host.logger.warn({ queue: key, err: error }, 'orderly: releasing the queue failed'));
      this.releases.set(key, done);
      void done.finally(() => {
        if (this.releases.get(key) === done) this.releases.delete(key);
      });
    }
  }

  private async releaseOne(pq: ProcessQueue): Promise<void> {
    const key = queueKey(pq.queue);
    this.cancelSuspend(pq);
    const idle = await this.whenIdle(pq, RELEASE_WAIT_MS);
    this.states.delete(pq);
    if (!idle) {
      // Unlocking now would let the next owner run beside the handler: leave the lock to expire instead.
      this.host.logger.warn({ queue: key, waitedMs: RELEASE_WAIT_MS }, 'orderly: a handler is still running on a released queue; its lock is left to expire');
      this.lockedUntil.delete(key);
      return;
    }
    await this.host.commit([pq]).catch((error: unknown) => this.host.logger.warn({ queue: key, err: error }, 'orderly: commit of a released queue failed'));
    this.lockedUntil.delete(key);
    const address = this.host.brokerAddress(pq.queue);
    if (address) await this.unlockBatch(address, [pq.queue]);
    this.host.logger.debug({ queue: key }, 'orderly: queue released');
  }

  /** Closing: stops delivering, waits for the messages in flight, commits, and unlocks every queue. */
  async close(): Promise<void> {
    this.closed = true;
    this.readyQueues.clear();
    for (const pq of this.states.keys()) this.cancelSuspend(pq);
    if (this.running > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    await Promise.allSettled([...this.deadLettering]);
    await Promise.allSettled([...this.releases.values()]);
    const assigned = [...this.host.assigned()];
    await this.host.commit(assigned).catch((error: unknown) => this.host.logger.warn({ err: error }, 'orderly: final offset commit failed'));
    await Promise.all([...this.byAddress(assigned)].map(([address, pqs]) => this.unlockBatch(address, pqs.map((pq) => pq.queue))));
    this.lockedUntil.clear();
    this.states.clear();
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

  private lockValid(pq: ProcessQueue): boolean {
    return (this.lockedUntil.get(queueKey(pq.queue)) ?? 0) > Date.now();
  }

  // --- delivery ----------------------------------------------------------------------------------------

  /** The queue has messages to deliver (called by the pull loop). */
  ready(pq: ProcessQueue): void {
    if (this.closed || pq.dropped) return;
    this.readyQueues.add(pq);
    this.pump();
  }

  private state(pq: ProcessQueue): QueueState {
    let state = this.states.get(pq);
    if (!state) this.states.set(pq, (state = { busy: false, timer: undefined, idleWaiters: [] }));
    return state;
  }

  /** Starts the next message of ready queues that are idle and locked, up to `concurrency` in the handler. */
  private pump(): void {
    while (this.running < this.host.concurrency && !this.closed && this.host.isRunning()) {
      let started = false;
      for (const pq of this.readyQueues) {
        this.readyQueues.delete(pq);
        if (pq.dropped) continue;
        const state = this.state(pq);
        if (state.busy) continue; // back in the set when it is idle again
        if (!this.lockValid(pq)) continue; // back in the set when the lock is renewed
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
      this.settle(pq, state, true);
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
      this.settle(pq, state, true);
      return;
    }
    Promise.resolve(outcome).then(
      () => {
        pq.complete(entry);
        this.failures.delete(entry);
        this.settle(pq, state, true);
        this.pump();
      },
      (error: unknown) => {
        this.failed(pq, state, entry, message, error);
        this.pump();
      },
    );
  }

  /** The handler is done with a message of `pq`; `idle`: the queue may deliver its next message. */
  private settle(pq: ProcessQueue, state: QueueState, idle: boolean): void {
    this.running--;
    if (idle) this.makeIdle(pq, state);
    if (this.running === 0 && this.idleWaiter) {
      const resolve = this.idleWaiter;
      this.idleWaiter = undefined;
      resolve();
    }
  }

  private makeIdle(pq: ProcessQueue, state: QueueState): void {
    state.busy = false;
    for (const wake of state.idleWaiters.splice(0)) wake();
    if (pq.hasReady && !pq.dropped && !this.closed) this.readyQueues.add(pq);
  }

  private failed(pq: ProcessQueue, state: QueueState, entry: CachedMessage, message: ReceivedMessage, error: unknown): void {
    entry.failures++;
    if (this.closed || pq.dropped || !this.host.isRunning()) {
      // Not retried here: the message stays uncommitted, so the queue's next owner (or a restart) gets it again.
      this.settle(pq, state, true);
      return;
    }
    const reason = failureReasonOf(error);
    const history = this.failures.get(entry) ?? [];
    this.failures.set(entry, history);
    history.push([Date.now(), reason]);
    const max = this.maxFor(message);
    const key = queueKey(pq.queue);
    if (entry.failures > max) {
      this.settle(pq, state, false);
      this.deadLetter(pq, state, entry, message, max, reason, history.slice(0, -1));
      return;
    }
    this.host.logger.warn(
      { queue: key, offset: entry.offset, msgId: message.msgId, failures: entry.failures, maxReconsumeTimes: max, suspendMs: this.suspendMs, err: error },
      'orderly: message processing failed; retrying in place',
    );
    pq.requeue(entry);
    this.settle(pq, state, false);
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
      this.makeIdle(pq, state);
      this.pump();
    }, this.suspendMs);
  }

  private cancelSuspend(pq: ProcessQueue): void {
    const state = this.states.get(pq);
    if (!state?.timer) return;
    clearTimeout(state.timer);
    state.timer = undefined;
    this.makeIdle(pq, state);
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
        this.makeIdle(pq, state);
        this.pump();
      } catch (error) {
        this.host.logger.warn({ queue: key, offset: entry.offset, msgId: message.msgId, err: error }, 'orderly: dead-lettering failed; retrying');
        if (this.closed || pq.dropped || !this.host.isRunning()) {
          this.makeIdle(pq, state);
          return;
        }
        this.suspend(pq, state, () => this.deadLetter(pq, state, entry, message, max, reason, history));
      }
    })();
    this.deadLettering.add(done);
    void done.finally(() => this.deadLettering.delete(done));
  }

  /** Resolves true once no message of `pq` is in flight or being dead-lettered, false after `timeoutMs`. */
  private async whenIdle(pq: ProcessQueue, timeoutMs: number): Promise<boolean> {
    const state = this.states.get(pq);
    if (!state?.busy) return true;
    const abort = new AbortController();
    const idle = new Promise<boolean>((resolve) => state.idleWaiters.push(() => resolve(true)));
    const timeout = sleep(timeoutMs, abort.signal).then(() => false, () => false);
    const result = await Promise.race([idle, timeout]);
    abort.abort();
    return result;
  }
}
