import { join } from 'node:path';
import type { Logger } from 'pino';
import type {
  ConsumerHeartbeat, ConsumerSendBackResponseHeader, DlqMessageInfo, DlqResendTarget, ReceivedMessage,
} from '@litemq/protocol';
import {
  RecordField, ResponseCode, SystemProperty, deadLetterTopicOf, decodeRecord, decodeRecords, encodeRecord, readMessageId,
  retryTopicOf, rpcFailure, SystemTopicPrefix,
} from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';
import { delayOf } from './delay-service.js';
import { BrokerErrorCode } from './errors.js';
import { GroupTopics, needsRetryTopic } from './group-topics.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';
import type { RetryOptions } from './retry-policy.js';
import { DEFAULT_MAX_RECONSUME_TIMES, MAX_FAILURE_REASON_CHARS, appendFailure, backoffMs, parseFailureHistory, parseRetryLevels } from './retry-policy.js';
import { ContextServices } from './context-services.js';

/** System properties a retry or dead-letter copy must not carry over from the stored record. */
const NOT_COPIED = new Set<string>([SystemProperty.SCHEDULED_AT, SystemProperty.DLQ_AT, SystemProperty.DELAY_MS, SystemProperty.DELIVER_AT]);
/** Properties removed when a dead letter is re-sent to its original topic (it becomes a fresh message). */
const RETRY_STATE = new Set<string>([
  SystemProperty.RETRY_TOPIC, SystemProperty.RETRY_GROUP, SystemProperty.FAILURE_REASON, SystemProperty.FAILURE_HISTORY, SystemProperty.DLQ_AT,
  SystemProperty.SCHEDULED_AT,
]);
const DLQ_READ_BATCH = 1_024;

interface PurgeState {
  /** Dead letters below this queue offset are purged. */
  floor: number;
  /** Individually purged queue offsets at or above the floor. */
  offsets: number[];
}

export interface SendBackArgs {
  group: string;
  commitLogOffset: number;
  msgId: string;
  maxReconsumeTimes: number | undefined;
  delayLevel: number;
  failureReason: string;
  /** Retries the consumer made itself (orderly, in place): the copy counts at least this many. */
  reconsumeTimes?: number;
  /** Failures of those in-place retries, oldest first, added to the history before this one. */
  history?: ReadonlyArray<readonly [number, string]>;
  /** When the retry is due (default: now + its backoff level); at or before now it is stored on the retry topic at once. */
  deliverAt?: number;
  /**
   * Creates the group's retry or dead-letter topic even past maxConsumerGroups: for the PopReviver, whose groups hold
   * offsets already (bounded by that limit) and whose message would otherwise be dropped.
   */
  bypassGroupLimit?: boolean;
}

/**
 * Retry and dead letters (design brief §6): a failed message sent back by a consumer is re-published to
 * `%RETRY%<group>` through the timer with backoff and `reconsumeTimes + 1`, or, past `maxReconsumeTimes`, stored
 * in `%DLQ%<group>`. Both keep the message id, body, tags, keys and properties; the original topic travels as
 * `$retryTopic`, the failure as `$failureReason` and `$failureHistory`. Dead letters can be listed, shown,
 * re-sent and purged (purge hides them; the log is append-only and retention removes them).
 */
export class RetryService {
  readonly levels: number[];
  readonly defaultMaxReconsumeTimes: number;
  /** Counters for status and tests. */
  readonly counters = { retried: 0, deadLettered: 0, resent: 0 };
  /** maxReconsumeTimes sent in heartbeats, by group; dropped once a group has no live member and no retry topic. */
  private readonly groupMax = new Map<string, number>();
  private readonly groupTopics: GroupTopics;
  private readonly purged = new Map<string, PurgeState>();
  private readonly saver: SerialSaver;
  private readonly path: string;
  private readonly logger: Logger;
  private resendCounter = 0;

  private constructor(private readonly context: BrokerContext, options: RetryOptions) {
    this.levels = parseRetryLevels(options.levels);
    this.defaultMaxReconsumeTimes = options.maxReconsumeTimes ?? DEFAULT_MAX_RECONSUME_TIMES;
    this.path = join(context.options.dataDir, 'config', 'dlq-purged.json');
    this.saver = new SerialSaver(() => writeJsonAtomic(this.path, Object.fromEntries(this.purged)));
    this.logger = context.logger.child({ component: 'retry' });
    this.groupTopics = new GroupTopics(context, this.logger);
  }

  static async open(context: BrokerContext): Promise<RetryService> {
    const service = new RetryService(context, context.options.retry);
    const file = (await readJsonFile(service.path)) as Record<string, PurgeState> | undefined;
    if (file && typeof file === 'object') {
      for (const [group, state] of Object.entries(file)) {
        if (state && Number.isInteger(state.floor) && Array.isArray(state.offsets)) service.purged.set(group, { floor: state.floor, offsets: state.offsets.filter(Number.isInteger) });
      }
    }
    return service;
  }

  /**
   * Heartbeat hook: remembers each group's maxReconsumeTimes and creates the `%RETRY%<group>` topic of
   * cluster-mode groups once, registering it with the NameServers before answering (system topics get no
   * auto-created route), so the consumer's next route look-up finds it. A heartbeat that finds the topic being
   * created by another one waits for that creation and registration. Known groups cost nothing more.
   */
  async onHeartbeat(consumers: readonly ConsumerHeartbeat[]): Promise<void> {
    let register = false;
    for (const consumer of consumers) {
      if (consumer.maxReconsumeTimes !== undefined) this.groupMax.set(consumer.group, consumer.maxReconsumeTimes);
      if (!needsRetryTopic(consumer)) continue;
      const topic = retryTopicOf(consumer.group);
      if (this.groupTopics.settled(topic)) continue;
      await this.groupTopics.ensure(topic, true);
      register = true;
    }
    if (register) await this.context.registrar.registerSoon();
  }

  /** Throws CONSUMER_GROUP_LIMIT when the retry topics a heartbeat would create do not fit in maxConsumerGroups. */
  assertHeartbeatRoom(consumers: readonly ConsumerHeartbeat[]): void {
    this.groupTopics.assertHeartbeatRoom(consumers);
  }

  /** Forgets the maxReconsumeTimes of groups with no live member and no retry topic (called periodically). */
  forgetIdleGroups(): void {
    for (const group of this.groupMax.keys()) {
      if (this.context.consumers.members(group).length === 0 && !this.context.topics.get(retryTopicOf(group))) this.groupMax.delete(group);
    }
  }

  /** Groups whose heartbeat maxReconsumeTimes is remembered (status and tests). */
  get rememberedGroups(): number {
    return this.groupMax.size;
  }

  private maxFor(group: string, message: ReceivedMessage, requested: number | undefined): number {
    const perMessage = Number(message.systemProperties[SystemProperty.MAX_RECONSUME_TIMES]);
    if (Number.isInteger(perMessage) && perMessage >= 0) return perMessage;
    return requested ?? this.groupMax.get(group) ?? this.defaultMaxReconsumeTimes;
  }

  /** CONSUMER_SEND_BACK: schedules the failed message on the group's retry topic, or dead-letters it. */
  async sendBack(args: SendBackArgs): Promise<ConsumerSendBackResponseHeader> {
    const { group } = args;
    const record = await this.context.store.readRecordAt(args.commitLogOffset);
    if (!record || readMessageId(record, RecordField.MSG_ID) !== args.msgId) {
      throw rpcFailure(ResponseCode.INVALID_REQUEST, `no message ${args.msgId} at commit-log offset ${args.commitLogOffset} on broker ${this.context.options.brokerName}`, BrokerErrorCode.MESSAGE_NOT_FOUND);
    }
    const message = decodeRecord(record);
    const isRetry = message.topic.startsWith(SystemTopicPrefix.RETRY);
    const originTopic = isRetry ? (message.systemProperties[SystemProperty.RETRY_TOPIC] ?? message.topic) : message.topic;
    const now = Date.now();
    const reason = args.failureReason.slice(0, MAX_FAILURE_REASON_CHARS);
    const system: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.systemProperties)) if (!NOT_COPIED.has(name)) system[name] = value;
    system[SystemProperty.RETRY_TOPIC] = originTopic;
    system[SystemProperty.RETRY_GROUP] = group;
    system[SystemProperty.ORIGIN_MSG_ID] ??= message.msgId;
    system[SystemProperty.FAILURE_REASON] = reason;
    let history = message.systemProperties[SystemProperty.FAILURE_HISTORY];
    for (const [at, earlier] of args.history ?? []) history = appendFailure(history, at, earlier);
    system[SystemProperty.FAILURE_HISTORY] = appendFailure(history, now, reason);
    const max = this.maxFor(group, message, args.maxReconsumeTimes);
    const reconsumeTimes = Math.max(message.reconsumeTimes, args.reconsumeTimes ?? 0);
    if (args.delayLevel < 0 || reconsumeTimes >= max) {
      const topic = deadLetterTopicOf(group);
      await this.groupTopics.ensure(topic, !args.bypassGroupLimit);
      system[SystemProperty.DLQ_AT] = String(now);
      await this.context.store.append(this.copy(message, record, topic, 0, reconsumeTimes, system));
      this.counters.deadLettered++;
      this.logger.warn({ group, msgId: message.msgId, topic: originTopic, reconsumeTimes, reason }, 'message dead-lettered');
      return { outcome: 'DLQ', reconsumeTimes, topic };
    }
    const topic = retryTopicOf(group);
    const { created } = await this.groupTopics.ensure(topic, !args.bypassGroupLimit);
    if (created) void this.context.registrar.registerSoon();
    const deliverAt = args.deliverAt ?? now + backoffMs(this.levels, reconsumeTimes, args.delayLevel);
    const retry = this.copy(message, record, topic, 0, reconsumeTimes + 1, system);
    if (deliverAt <= now) await this.context.store.append(retry);
    else await delayOf(this.context).deliverAt(retry, topic, 0, deliverAt);
    this.counters.retried++;
    return { outcome: 'RETRY', reconsumeTimes: reconsumeTimes + 1, deliverAt, topic };
  }

  /** The message re-encoded onto another topic: same id, body, tags, keys, properties, born time and host. */
  private copy(message: ReceivedMessage, record: Buffer, topic: string, queueId: number, reconsumeTimes: number, system: Record<string, string>): Buffer {
    const out = encodeRecord(
      { topic, body: message.body, keys: message.keys, tags: message.tags, properties: message.properties },
      {
        allowSystemTopic: true, systemProperties: system, msgId: Buffer.from(record.subarray(RecordField.MSG_ID, RecordField.MSG_ID + 16)), queueId,
        bornTimestamp: message.bornTimestamp, reconsumeTimes, flags: 0, maxBodyBytes: Number.MAX_SAFE_INTEGER,
      },
    );
    record.copy(out, RecordField.BORN_HOST, RecordField.BORN_HOST, RecordField.BORN_HOST + 18);
    return out;
  }

  // --- dead letters ------------------------------------------------------------------------------------

  private isPurged(group: string, offset: number): boolean {
    const state = this.purged.get(group);
    return state !== undefined && (offset < state.floor || state.offsets.includes(offset));
  }

  /** Every live dead letter of a group, oldest first, with its stored record. */
  private async scan(group: string): Promise<Array<{ message: ReceivedMessage; record: Buffer }>> {
    const topic = deadLetterTopicOf(group);
    const range = this.context.store.queueOffsets(topic, 0);
    if (!range) return [];
    const out: Array<{ message: ReceivedMessage; record: Buffer }> = [];
    let offset = Math.max(range.minOffset, this.purged.get(group)?.floor ?? 0);
    while (offset < range.maxOffset) {
      const result = await this.context.store.read(topic, 0, offset, { maxCount: DLQ_READ_BATCH });
      let at = 0;
      for (const message of decodeRecords(result.records)) {
        const size = result.records.readUInt32BE(at);
        const record = result.records.subarray(at, at + size);
        at += size;
        if (!this.isPurged(group, message.queueOffset)) out.push({ message, record });
      }
      if (result.nextOffset <= offset) break;
      offset = result.nextOffset;
    }
    return out;
  }

  info(group: string, message: ReceivedMessage): DlqMessageInfo {
    const system = message.systemProperties;
    return {
      brokerName: this.context.options.brokerName, group, msgId: message.msgId, originTopic: system[SystemProperty.RETRY_TOPIC] ?? '', dlqOffset: message.queueOffset,
      attempts: message.reconsumeTimes + 1, lastError: system[SystemProperty.FAILURE_REASON], history: parseFailureHistory(system[SystemProperty.FAILURE_HISTORY]),
      bornTimestamp: message.bornTimestamp, dlqAt: Number(system[SystemProperty.DLQ_AT]) || message.storeTimestamp, tags: message.tags, keys: message.keys,
      properties: message.properties, bodySize: message.body.length,
    };
  }

  async list(group: string, limit: number): Promise<{ messages: DlqMessageInfo[]; total: number }> {
    const all = await this.scan(group);
    return { messages: all.slice(0, limit).map(({ message }) => this.info(group, message)), total: all.length };
  }

  /** The most recent live dead letter with this id. */
  async get(group: string, msgId: string): Promise<{ message: ReceivedMessage; record: Buffer } | undefined> {
    const all = await this.scan(group);
    for (let i = all.length - 1; i >= 0; i--) if (all[i]!.message.msgId === msgId) return all[i];
    return undefined;
  }

  /**
   * Re-publishes dead letters (all when `msgIds` is empty): to `%RETRY%<group>` (only that group gets it again,
   * with a fresh retry budget) or to the original topic (every group subscribed to it gets it). The dead letter
   * itself stays listed until purged.
   */
  async resend(group: string, msgIds: readonly string[], target: DlqResendTarget): Promise<{ resent: string[]; notFound: string[] }> {
    const all = await this.scan(group);
    const wanted = new Set(msgIds);
    const chosen = new Map<string, { message: ReceivedMessage; record: Buffer }>();
    for (const entry of all) if (wanted.size === 0 || wanted.has(entry.message.msgId)) chosen.set(entry.message.msgId, entry);
    const notFound = [...wanted].filter((id) => !chosen.has(id));
    const out: Buffer[] = [];
    for (const { message, record } of chosen.values()) {
      const originTopic = message.systemProperties[SystemProperty.RETRY_TOPIC];
      if (target === 'RETRY') {
        const topic = retryTopicOf(group);
        // The group has dead letters here, so it got past the limit before.
        const { created } = await this.groupTopics.ensure(topic, false);
        if (created) void this.context.registrar.registerSoon();
        const system: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.systemProperties)) if (!NOT_COPIED.has(name)) system[name] = value;
        out.push(this.copy(message, record, topic, 0, 0, system));
      } else {
        const config = originTopic ? this.context.topics.get(originTopic) : undefined;
        if (!originTopic || !config) {
          notFound.push(message.msgId);
          continue;
        }
        const system: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.systemProperties)) if (!RETRY_STATE.has(name)) system[name] = value;
        out.push(this.copy(message, record, originTopic, this.resendCounter++ % Math.max(1, config.writeQueueNums), 0, system));
      }
    }
    if (out.length > 0) await this.context.store.append(out.length === 1 ? out[0]! : Buffer.concat(out));
    this.counters.resent += out.length;
    const failed = new Set(notFound);
    return { resent: [...chosen.keys()].filter((id) => !failed.has(id)), notFound };
  }

  /** Hides dead letters (all when `msgIds` is empty) from list, show and resend; persisted. */
  async purge(group: string, msgIds: readonly string[]): Promise<number> {
    const all = await this.scan(group);
    const state = this.purged.get(group) ?? { floor: 0, offsets: [] };
    let purged = 0;
    if (msgIds.length === 0) {
      purged = all.length;
      state.floor = this.context.store.queueOffsets(deadLetterTopicOf(group), 0)?.maxOffset ?? state.floor;
      state.offsets = [];
    } else {
      const wanted = new Set(msgIds);
      for (const { message } of all) {
        if (!wanted.has(message.msgId)) continue;
        state.offsets.push(message.queueOffset);
        purged++;
      }
    }
    this.purged.set(group, state);
    await this.saver.request();
    return purged;
  }
}

const services = new ContextServices<RetryService>('retry is not available on this broker');

export async function openRetry(context: BrokerContext): Promise<RetryService> {
  return services.register(context, await RetryService.open(context));
}

export function retryOf(context: BrokerContext): RetryService {
  return services.of(context);
}
