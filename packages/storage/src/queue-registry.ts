import { mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConsumeQueue } from './consume-queue.js';

const QUEUE_ID = /^\d+$/;

/** Every ConsumeQueue of the store by topic and queue id, each with its reservation counter. */
export class QueueRegistry {
  private readonly topics = new Map<string, Map<number, ConsumeQueue>>();
  /** Next queue offset to hand out per queue; ahead of `nextOffset` while a batch is being written. */
  private readonly reserved = new Map<ConsumeQueue, number>();
  onWritten: ((queue: ConsumeQueue) => void) | undefined;

  constructor(
    readonly dir: string,
    readonly entriesPerSegment: number,
  ) {}

  /** Opens every queue found under `dir/<topic>/<queueId>/`. */
  async load(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    for (const topic of await readdir(this.dir)) {
      for (const id of await readdir(join(this.dir, topic)).catch(() => [] as string[])) {
        if (!QUEUE_ID.test(id)) continue;
        const queue = await ConsumeQueue.open(join(this.dir, topic, id), topic, Number(id), this.entriesPerSegment);
        this.add(queue);
      }
    }
  }

  private add(queue: ConsumeQueue): void {
    let queues = this.topics.get(queue.topic);
    if (!queues) this.topics.set(queue.topic, (queues = new Map()));
    queues.set(queue.queueId, queue);
    queue.onWritten = (written) => this.onWritten?.(written);
  }

  hasTopic(topic: string): boolean {
    return this.topics.has(topic);
  }

  get(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.topics.get(topic)?.get(queueId);
  }

  /** Synchronous so the append loop can create a queue for a new topic without yielding. */
  getOrCreate(topic: string, queueId: number): ConsumeQueue {
    const existing = this.get(topic, queueId);
    if (existing) return existing;
    const dir = join(this.dir, topic, String(queueId));
    mkdirSync(dir, { recursive: true });
    const queue = ConsumeQueue.createEmpty(dir, topic, queueId, this.entriesPerSegment);
    this.add(queue);
    return queue;
  }

  /** Hands out the next queue offset of `queue` for a record about to be written. */
  reserveOffset(queue: ConsumeQueue): number {
    const next = this.reserved.get(queue) ?? queue.nextOffset;
    this.reserved.set(queue, next + 1);
    return next;
  }

  /** Forgets reservations of a batch that was not written: counters fall back to what was dispatched. */
  resetReservations(): void {
    this.reserved.clear();
  }

  all(): ConsumeQueue[] {
    const queues: ConsumeQueue[] = [];
    for (const byId of this.topics.values()) queues.push(...byId.values());
    return queues;
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  queuesOf(topic: string): ConsumeQueue[] {
    return [...(this.topics.get(topic)?.values() ?? [])];
  }

  closeAll(): void {
    for (const queue of this.all()) queue.close();
  }
}
