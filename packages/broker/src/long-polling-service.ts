import type { RpcConnection } from '@litemq/protocol';

/** Why a held pull is answered: new messages, its deadline, its connection closing, or broker shutdown. */
export type WakeReason = 'arrival' | 'timeout' | 'closed' | 'shutdown';

export interface HeldPull {
  readonly topic: string;
  readonly queueId: number;
  /** The offset the pull waits past: any maxOffset above it wakes the pull. */
  readonly offset: number;
  readonly connection: RpcConnection;
  readonly wake: (reason: WakeReason) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Pulls with nothing new, held until a message arrives on their queue or their deadline passes (long
 * polling). Indexed by topic then queue id so a store notification finds its waiters without building
 * a key, and by connection to cap and drop them. One timer per held request, none per message.
 */
export class LongPollingService {
  private readonly byQueue = new Map<string, Map<number, Set<HeldPull>>>();
  private readonly byConnection = new Map<RpcConnection, Set<HeldPull>>();
  private count = 0;

  constructor(private readonly maxPerConnection: number) {}

  get size(): number {
    return this.count;
  }

  heldBy(connection: RpcConnection): number {
    return this.byConnection.get(connection)?.size ?? 0;
  }

  /** Holds `pull` until `waitMs` elapse or it is woken; false when its connection already holds the maximum. */
  hold(pull: HeldPull, waitMs: number): boolean {
    let mine = this.byConnection.get(pull.connection);
    if ((mine?.size ?? 0) >= this.maxPerConnection) return false;
    if (!mine) this.byConnection.set(pull.connection, (mine = new Set()));
    mine.add(pull);
    let queues = this.byQueue.get(pull.topic);
    if (!queues) this.byQueue.set(pull.topic, (queues = new Map()));
    let waiters = queues.get(pull.queueId);
    if (!waiters) queues.set(pull.queueId, (waiters = new Set()));
    waiters.add(pull);
    this.count++;
    pull.timer = setTimeout(() => this.settle(pull, 'timeout'), waitMs);
    return true;
  }

  /** New messages are readable on a queue: wake the pulls waiting below `maxOffset`. */
  messagesAvailable(topic: string, queueId: number, maxOffset: number): void {
    const waiters = this.byQueue.get(topic)?.get(queueId);
    if (!waiters) return;
    for (const pull of waiters) if (maxOffset > pull.offset) this.settle(pull, 'arrival');
  }

  /** Answers every pull held for a connection that just closed. */
  connectionClosed(connection: RpcConnection): void {
    for (const pull of [...(this.byConnection.get(connection) ?? [])]) this.settle(pull, 'closed');
  }

  /** Answers every held pull (the broker is shutting down). */
  wakeAll(): void {
    for (const pulls of [...this.byConnection.values()]) for (const pull of [...pulls]) this.settle(pull, 'shutdown');
  }

  private settle(pull: HeldPull, reason: WakeReason): void {
    if (!this.release(pull)) return;
    pull.wake(reason);
  }

  private release(pull: HeldPull): boolean {
    const queues = this.byQueue.get(pull.topic);
    const waiters = queues?.get(pull.queueId);
    if (!waiters?.delete(pull)) return false;
    if (waiters.size === 0) {
      queues!.delete(pull.queueId);
      if (queues!.size === 0) this.byQueue.delete(pull.topic);
    }
    const mine = this.byConnection.get(pull.connection);
    mine?.delete(pull);
    if (mine?.size === 0) this.byConnection.delete(pull.connection);
    clearTimeout(pull.timer);
    this.count--;
    return true;
  }
}
