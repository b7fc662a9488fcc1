import { join } from 'node:path';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';

/** group → topic → queueId → offset, as stored in `config/consumer-offsets.json`. */
type OffsetTable = Record<string, Record<string, Record<string, number>>>;

/**
 * Committed offsets of consumer groups (cluster mode). A commit sets the offset (it may move backwards,
 * e.g. an offset reset); callers clamp it to the queue's range. Persisted every interval and on close.
 * At most `maxGroups` groups: a commit for one more is refused (CONSUMER_GROUP_LIMIT), so made-up group names
 * cannot grow the table (and the file rewritten every interval) without bound.
 */
export class ConsumerOffsetManager {
  private readonly table = new Map<string, Map<string, Map<number, number>>>();
  private dirty = false;
  private readonly saver: SerialSaver;

  private constructor(readonly path: string, readonly maxGroups: number) {
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

  static async load(dataDir: string, options: { maxGroups?: number } = {}): Promise<ConsumerOffsetManager> {
    const manager = new ConsumerOffsetManager(join(dataDir, 'config', 'consumer-offsets.json'), options.maxGroups ?? Number.POSITIVE_INFINITY);
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

  /** Throws INVALID_REQUEST CONSUMER_GROUP_LIMIT when `group` has no offsets yet and the table holds maxGroups groups. */
  assertGroupRoom(group: string): void {
    if (this.table.has(group) || this.table.size < this.maxGroups) return;
    throw rpcFailure(
      ResponseCode.INVALID_REQUEST,
      `broker holds committed offsets of ${this.table.size} consumer groups, the maximum (maxConsumerGroups): group ${group} cannot be added`,
      BrokerErrorCode.CONSUMER_GROUP_LIMIT,
    );
  }

  /** Sets the offset; a group new to the table must have room (assertGroupRoom). */
  commit(group: string, topic: string, queueId: number, offset: number): void {
    this.assertGroupRoom(group);
    this.set(group, topic, queueId, offset);
  }

  /**
   * Sets the offset only if the committed one is still `expected` (-1: none): for a writer that read the offset,
   * awaited, and must not overwrite a commit or reset made meanwhile. Returns whether it was set.
   */
  commitIf(group: string, topic: string, queueId: number, expected: number, offset: number): boolean {
    if (this.committed(group, topic, queueId) !== expected) return false;
    this.commit(group, topic, queueId, offset);
    return true;
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
    for (const [group, topics] of this.table) {
      if (!topics.delete(topic)) continue;
      this.dirty = true;
      if (topics.size === 0) this.table.delete(group);
    }
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
