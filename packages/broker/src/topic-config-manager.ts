import { join } from 'node:path';
import type { TopicConfig } from '@litemq/protocol';
import { TopicPerm, validateTopicName } from '@litemq/protocol';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';

export const MAX_QUEUE_NUMS = 1024;

interface TopicsFile {
  dataVersion: number;
  topics: TopicConfig[];
}

function isTopicConfig(value: unknown): value is TopicConfig {
  const config = value as TopicConfig;
  return (
    typeof value === 'object' && value !== null && typeof config.topic === 'string' &&
    Number.isInteger(config.readQueueNums) && Number.isInteger(config.writeQueueNums) && Number.isInteger(config.perm)
  );
}

/** Problem with a topic config's numbers, or undefined when it is valid. */
export function topicConfigProblem(config: TopicConfig): string | undefined {
  for (const field of ['readQueueNums', 'writeQueueNums'] as const) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1 || value > MAX_QUEUE_NUMS) return `${field} must be an integer in [1, ${MAX_QUEUE_NUMS}], got ${JSON.stringify(value)}`;
  }
  if (!Number.isInteger(config.perm) || (config.perm & ~TopicPerm.READ_WRITE) !== 0) {
    return `perm must be a combination of READ (${TopicPerm.READ}) and WRITE (${TopicPerm.WRITE}), got ${JSON.stringify(config.perm)}`;
  }
  return undefined;
}

/**
 * The broker's topics, persisted in `config/topics.json`. `dataVersion` increases on every change so
 * NameServers can tell a fresh registration from a stale one.
 */
export class TopicConfigManager {
  private readonly topics = new Map<string, TopicConfig>();
  private version = 0;
  private readonly saver: SerialSaver;
  /** Called after every change (e.g. to re-register with the NameServers at once). */
  onChange: (() => void) | undefined;

  private constructor(readonly path: string) {
    this.saver = new SerialSaver(() => writeJsonAtomic(this.path, this.snapshot()));
  }

  static async load(dataDir: string): Promise<TopicConfigManager> {
    const manager = new TopicConfigManager(join(dataDir, 'config', 'topics.json'));
    const file = (await readJsonFile(manager.path)) as TopicsFile | undefined;
    if (file !== undefined) {
      if (typeof file !== 'object' || file === null || !Array.isArray(file.topics)) {
        throw new BrokerError(BrokerErrorCode.CONFIG_CORRUPT, `${manager.path} does not hold a topic list`);
      }
      for (const config of file.topics) {
        if (!isTopicConfig(config)) throw new BrokerError(BrokerErrorCode.CONFIG_CORRUPT, `${manager.path} holds an invalid topic config ${JSON.stringify(config)}`);
        manager.topics.set(config.topic, { topic: config.topic, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm });
      }
      manager.version = Number.isInteger(file.dataVersion) ? file.dataVersion : 0;
    }
    return manager;
  }

  get dataVersion(): number {
    return this.version;
  }

  get size(): number {
    return this.topics.size;
  }

  get(topic: string): TopicConfig | undefined {
    return this.topics.get(topic);
  }

  /** Topics whose name starts with `prefix` (e.g. the `%RETRY%` topics of consumer groups). */
  countWithPrefix(prefix: string): number {
    let count = 0;
    for (const topic of this.topics.keys()) if (topic.startsWith(prefix)) count++;
    return count;
  }

  list(): TopicConfig[] {
    return [...this.topics.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  }

  /**
   * Creates or updates a topic and persists the change. User names only unless `allowSystem` (the broker
   * itself creating retry, DLQ or timer topics). Throws ProtocolError / BrokerError on invalid input.
   */
  async put(config: TopicConfig, options: { allowSystem?: boolean } = {}): Promise<TopicConfig> {
    validateTopicName(config.topic, { allowSystem: options.allowSystem ?? false });
    const problem = topicConfigProblem(config);
    if (problem) throw new BrokerError(BrokerErrorCode.INVALID_OPTIONS, `topic ${config.topic}: ${problem}`);
    const stored: TopicConfig = { topic: config.topic, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm };
    const existing = this.topics.get(config.topic);
    if (existing && existing.readQueueNums === stored.readQueueNums && existing.writeQueueNums === stored.writeQueueNums && existing.perm === stored.perm) {
      return existing;
    }
    this.topics.set(stored.topic, stored);
    this.changed();
    await this.save();
    return stored;
  }

  /** Removes a topic; resolves false when there was none. */
  async delete(topic: string): Promise<boolean> {
    if (!this.topics.delete(topic)) return false;
    this.changed();
    await this.save();
    return true;
  }

  private changed(): void {
    this.version++;
    this.onChange?.();
  }

  /** Writes the current topics to disk (coalescing concurrent calls). */
  save(): Promise<void> {
    return this.saver.request();
  }

  private snapshot(): TopicsFile {
    return { dataVersion: this.version, topics: this.list() };
  }
}
