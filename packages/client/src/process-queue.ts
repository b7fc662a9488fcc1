import type { ReceivedMessage } from '@litemq/protocol';
import type { MessageQueue } from './message-queue.js';

/** A pulled message kept as a slice of its pull response until it is delivered (decoded lazily). */
export interface CachedMessage {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  readonly offset: number;
  /** Failed deliveries so far. */
  failures: number;
  done: boolean;
  /** Decoded on first delivery and reused for redeliveries. */
  message: ReceivedMessage | undefined;
}

/**
 * Client-side state of one assigned queue: the next offset to pull, the messages pulled but not yet processed
 * (in offset order), the ones ready for delivery, and the committable offset = the lowest offset not yet
 * processed (or the next offset to pull when nothing is outstanding).
 */
export class ProcessQueue {
  /** Next offset to pull. */
  nextOffset: number;
  /** Offset last committed to the broker (-1: none yet). */
  lastCommitted = -1;
  /** Set when the queue was reassigned or the consumer closes: stop pulling and delivering. */
  dropped = false;
  /** Set by stopPulling() (and drop()): the pull loop exits. */
  pullStopped = false;
  /** Aborts the pull in flight. */
  readonly abort = new AbortController();
  private entries: CachedMessage[] = [];
  private head = 0;
  private ready: CachedMessage[] = [];
  private readyHead = 0;
  private outstanding = 0;
  private roomWaiter: (() => void) | undefined;
  /** A full cache wakes the pull loop when it drains to this many unfinished messages. */
  private readonly resumeBelow: number;
  /** The topic name's bytes, to match records without decoding their topic. */
  readonly topicBytes: Buffer;

  constructor(
    readonly queue: MessageQueue,
    startOffset: number,
    private readonly maxPrefetch: number,
  ) {
    this.nextOffset = startOffset;
    this.resumeBelow = Math.floor(maxPrefetch / 2);
    this.topicBytes = Buffer.from(queue.topic, 'latin1');
  }

  /** Messages pulled and not yet processed (cached, being handled, or waiting for redelivery). */
  get unfinished(): number {
    return this.outstanding;
  }

  get hasReady(): boolean {
    return this.readyHead < this.ready.length;
  }

  get isFull(): boolean {
    return this.outstanding >= this.maxPrefetch;
  }

  /** Adds a pulled message (offsets must increase: a move backwards goes through resetTo()). */
  add(buf: Buffer, start: number, end: number, offset: number): void {
    const entry: CachedMessage = { buf, start, end, offset, failures: 0, done: false, message: undefined };
    this.entries.push(entry);
    this.ready.push(entry);
    this.outstanding++;
  }

  /** Next message to deliver, FIFO (redeliveries go first). */
  takeReady(): CachedMessage | undefined {
    if (this.readyHead >= this.ready.length) return undefined;
    const entry = this.ready[this.readyHead]!;
    this.ready[this.readyHead++] = undefined as unknown as CachedMessage;
    if (this.readyHead === this.ready.length) {
      this.ready = [];
      this.readyHead = 0;
    }
    return entry;
  }

  /** Puts a message back for another delivery (after a failure, or an iteration that ended early). */
  requeue(entry: CachedMessage): void {
    if (entry.done || this.dropped) return;
    if (this.readyHead > 0) this.ready[--this.readyHead] = entry;
    else this.ready.unshift(entry);
  }

  /** Marks a message processed; the committable offset moves past every processed prefix. */
  complete(entry: CachedMessage): void {
    if (entry.done) return;
    entry.done = true;
    this.outstanding--;
    while (this.head < this.entries.length && this.entries[this.head]!.done) this.head++;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    // Resume pulling only once half the cache is free: waking at the first free slot made the pull loop ask
    // for one or two messages per processed message when the handler is the bottleneck.
    if (this.roomWaiter && this.outstanding <= this.resumeBelow) {
      const wake = this.roomWaiter;
      this.roomWaiter = undefined;
      wake();
    }
  }

  /** The offset to commit: lowest unprocessed offset, or the next offset to pull when nothing is outstanding. */
  consumedOffset(): number {
    return this.head < this.entries.length ? this.entries[this.head]!.offset : this.nextOffset;
  }

  /** Resolves once the cache is at most half full (or the queue is dropped). */
  waitForRoom(): Promise<void> {
    if (!this.isFull || this.pullStopped) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.roomWaiter;
      this.roomWaiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Stops the pull loop (aborting the pull in flight) but keeps delivering what is cached. */
  stopPulling(): void {
    if (this.pullStopped) return;
    this.pullStopped = true;
    this.abort.abort();
    const wake = this.roomWaiter;
    this.roomWaiter = undefined;
    wake?.();
  }

  /** Stops pulling and delivering; messages not processed stay uncommitted (the next owner gets them again). */
  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.ready = [];
    this.readyHead = 0;
    this.stopPulling();
  }

  /**
   * Restarts the queue at `offset`, lower than what was pulled (PULL_OFFSET_MOVED backwards): every cached message is
   * forgotten, and those handed out already are marked done without counting, so their late complete() or requeue()
   * is a no-op instead of corrupting the new cache. Keeps the invariant that cached offsets only increase.
   * Returns how many unfinished messages were dropped.
   */
  resetTo(offset: number): number {
    const dropped = this.outstanding;
    for (let i = this.head; i < this.entries.length; i++) this.entries[i]!.done = true;
    this.entries = [];
    this.head = 0;
    this.ready = [];
    this.readyHead = 0;
    this.outstanding = 0;
    this.nextOffset = offset;
    const wake = this.roomWaiter;
    this.roomWaiter = undefined;
    wake?.();
    return dropped;
  }

  /** Forgets the cached messages not yet handed out (closing: they will be delivered again after a restart). */
  clearReady(): void {
    this.ready = [];
    this.readyHead = 0;
  }
}
