import type { RpcConnection } from '@litemq/protocol';

/** Why a held pop is answered: a message arrived on one of its topics, its deadline passed, or broker shutdown. */
export type PopWakeReason = 'arrival' | 'timeout' | 'shutdown';

export interface HeldPop {
  /** Topics whose new messages wake the pop (its subscriptions and its group's retry topic). */
  readonly topics: readonly string[];
  readonly connection: RpcConnection;
  readonly wake: (reason: PopWakeReason) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Pops with nothing visible, held until a message arrives on any of their topics or their deadline passes (long
 * polling for simple consumers). A pop spans every queue of its topics, so waiters are indexed by topic; one timer
 * per held request, none per message. A pop whose connection closed is answered at its deadline (or first arrival)
 * without popping anything.
 */
export class PopWaiters {
  private readonly byTopic = new Map<string, Set<HeldPop>>();
  private readonly perConnection = new Map<RpcConnection, number>();
  private count = 0;

  constructor(private readonly maxPerConnection: number) {}

  get size(): number {
    return this.count;
  }

  /** Holds `pop` until `waitMs` elapse or it is woken; false when its connection already holds the maximum. */
  hold(pop: HeldPop, waitMs: number): boolean {
    const held = this.perConnection.get(pop.connection) ?? 0;
    if (held >= this.maxPerConnection) return false;
    this.perConnection.set(pop.connection, held + 1);
    for (const topic of pop.topics) {
      let waiters = this.byTopic.get(topic);
      if (!waiters) this.byTopic.set(topic, (waiters = new Set()));
      waiters.add(pop);
    }
    this.count++;
    pop.timer = setTimeout(() => this.settle(pop, 'timeout'), waitMs);
    return true;
  }

  /** New messages on a queue of `topic`: wakes every pop waiting for it. */
  messagesAvailable(topic: string): void {
    const waiters = this.byTopic.get(topic);
    if (!waiters) return;
    for (const pop of [...waiters]) this.settle(pop, 'arrival');
  }

  /** Answers every held pop (the broker is shutting down). */
  wakeAll(): void {
    const all = new Set<HeldPop>();
    for (const waiters of this.byTopic.values()) for (const pop of waiters) all.add(pop);
    for (const pop of all) this.settle(pop, 'shutdown');
  }

  /** Wakes one held pop now (something became visible while it was being registered). */
  settle(pop: HeldPop, reason: PopWakeReason): void {
    if (!this.release(pop)) return;
    pop.wake(reason);
  }

  private release(pop: HeldPop): boolean {
    let found = false;
    for (const topic of pop.topics) {
      const waiters = this.byTopic.get(topic);
      if (!waiters?.delete(pop)) continue;
      found = true;
      if (waiters.size === 0) this.byTopic.delete(topic);
    }
    if (!found) return false;
    const held = (this.perConnection.get(pop.connection) ?? 1) - 1;
    if (held > 0) this.perConnection.set(pop.connection, held);
    else this.perConnection.delete(pop.connection);
    clearTimeout(pop.timer);
    this.count--;
    return true;
  }
}
