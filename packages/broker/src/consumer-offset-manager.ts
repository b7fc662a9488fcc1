import { join } from 'node:path';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';

/** group → topic → queueId → offset, as stored in `config/consumer-offsets.json`. */
type OffsetTable = Record<string, Record<string, Record<string, number>>>;

/**
 * Committed offsets of consumer groups (cluster mode). A commit sets the offset (it may move backwards,
 * e.g. an offset reset); callers clamp it to the queue's range. Persisted every interval and on close.
 */
export class ConsumerOffsetManager {
  private readonly table = new Map<string, Map<string, Map<number, number>>>();
  private dirty = false;
  private readonly saver: SerialSaver;

  private constructor(readonly path: string) {
    this.saver = new SerialSaver(async () => {
      this.dirty = false;
      try {
        await writeJsonAtomic(this.path, { offsets: this.snapshot() });
      } catch (error) {
        this.dirty = true; // a failed save (e.g. ENOSPC) must be retried by the next persist
        throw error;
      }
    });
  }

  static async load(dataDir: string): Promise<ConsumerOffsetManager> {
    const manager = new ConsumerOffsetManager(join(dataDir, 'config', 'consumer-offsets.json'));
    const file = (await readJsonFile(manager.path)) as { offsets?: OffsetTable } | undefined;
    if (file === undefined) return manager;
    if (typeof file !== 'object' || file === null || typeof file.offsets !== 'object' || file.offsets === null) {
      throw new BrokerError(BrokerErrorCode.CONFIG_CORRUPT, `${manager.path} does not hold an offset table`);
    }
    for (const [group, topics] of Object.entries(file.offsets)) {
      for (const [topic, queues] of Object.entries(topics)) {
        for (const [queueId, offset] of Object.entries(queues)) {
          if (Number.isInteger(offset) && offset >= 0) manager.set(group, topic, Number(queueId), offset);
        }
      }
    }
    manager.dirty = false;
    return manager;
  }

  private set(group: string, topic: string, queueId: number, offset: number): void {
    let topics = this.table.get(group);
    if (!topics) this.table.set(group, (topics = new Map()));
    let queues = topics.get(topic);
    if (!queues) topics.set(topic, (queues = new Map()));
    if (queues.get(queueId) !== offset) {
      queues.set(queueId, offset);
      this.dirty = true;
    }
  }

  commit(group: string, topic: string, queueId: number, offset: number): void {
    this.set(group, topic, queueId, offset);
  }

  /** The committed offset, or -1 when the group has none for the queue. */
  committed(group: string, topic: string, queueId: number): number {
    return this.table.get(group)?.get(topic)?.get(queueId) ?? -1;
  }

  /** Topics the group has committed offsets for. */
  topicsOf(group: string): string[] {
    return [...(this.table.get(group)?.keys() ?? [])];
  }

  groups(): string[] {
    return [...this.table.keys()];
  }

  /** Forgets every group's offsets of a deleted topic. */
  deleteTopic(topic: string): void {
    for (const topics of this.table.values()) if (topics.delete(topic)) this.dirty = true;
  }

  /** Writes the table if it changed since the last write. */
  async persist(): Promise<void> {
    if (this.dirty) await this.saver.request();
  }

  private snapshot(): OffsetTable {
    const out: OffsetTable = {};
    for (const [group, topics] of this.table) {
      const byTopic: Record<string, Record<string, number>> = {};
      for (const [topic, queues] of topics) byTopic[topic] = Object.fromEntries(queues);
      out[group] = byTopic;
    }
    return out;
  }
}
