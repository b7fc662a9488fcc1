import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ConsumeFromWhere, RecordSections, SqlFilter } from '@litemq/protocol';
import {
  ProtocolError, RecordField, ResponseCode, TopicPerm, concatRecords, emptySections, encodeReceiptHandle, parseReceiptHandle,
  readMessageId, readRecordSections, readU64, retryTopicOf, rpcFailure,
} from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';
import { queueRange } from './broker-context.js';
import { delayOf } from './delay-service.js';
import { BrokerErrorCode } from './errors.js';
import { KeyedLock } from './keyed-lock.js';
import type { PopCheckpoint, StoredCheckpoint } from './pop-checkpoint.js';
import { POP_REVIVE_TOPIC, encodeCheckpoint, storedCheckpoint } from './pop-checkpoint.js';
import { PopReviver } from './pop-reviver.js';
import { PopWaiters } from './pop-waiters.js';
import { ContextServices } from './context-services.js';

/** The filter of one subscribed topic, as the broker applies it (exactly: tags compared as strings). */
export interface PopFilter {
  topic: string;
  /** Exact tags (undefined: every tag) and their hashes for the consume-queue read. */
  tags: ReadonlySet<string> | undefined;
  tagHashes: ReadonlySet<number> | undefined;
  sql: SqlFilter | undefined;
}

export interface PopArgs {
  group: string;
  subscriptions: readonly PopFilter[];
  maxCount: number;
  maxBytes: number;
  invisibleMs: number;
  fromWhere: ConsumeFromWhere;
  timestamp: number;
  maxReconsumeTimes: number | undefined;
}

export interface PopResult {
  /** The popped records, exactly as stored, in order. */
  records: Buffer[];
  handles: string[];
  /** Earliest end of invisibility among them (0 when none). */
  invisibleUntil: number;
}

interface PopQueue {
  topic: string;
  queueId: number;
  /** undefined for the group's retry queue: its messages matched when first delivered. */
  filter: PopFilter | undefined;
}

/** Reads skipped in one queue when filters match nothing, before moving on. */
const MAX_FILTERED_READS = 8;
/** Entries read at once from a queue with a tag or SQL filter. */
const FILTERED_READ_COUNT = 64;

function invalidHandle(message: string): never {
  throw rpcFailure(ResponseCode.INVALID_REQUEST, message, BrokerErrorCode.RECEIPT_HANDLE_INVALID);
}

/**
 * Pop consumption on one broker (design: docs/architecture.md, "Pop consumption").
 *
 * A pop takes messages from the group's consume offset of each queue, under an in-process lock per
 * (group, topic, queue) so concurrent pops never take the same range, and moves the offset past them at once. Each
 * popped message gets a checkpoint record: a delayed record for `%POP_REVIVE%` due at the end of its invisible time,
 * appended to the log (through the timer topic) and scheduled in the timer store before the pop is answered. Its
 * commit-log offset and id make the receipt handle. Ack cancels the checkpoint's timer (a persisted tombstone);
 * changeInvisibleDuration appends a new checkpoint, then cancels the old one as `replaced` (persisted too, so the old
 * handle answers RECEIPT_HANDLE_STALE across a restart until its own time). A checkpoint still live at its time
 * reaches `%POP_REVIVE%`, where the PopReviver redelivers the message through the retry service. So the in-flight
 * state is the timer store's (on disk) plus tombstones of acknowledged handles until their time: memory per
 * in-flight message is bounded, and a crash leads to redelivery, never to a lost message.
 *
 * The offset a pop moves is committed only if it is still the one the pop read from: an offset reset or commit
 * made meanwhile (they do not take the pop's lock) wins over the pop. Queues fail separately: a pop answers what
 * the other queues gave (their messages are invisible already) and fails only when it got nothing.
 */
export class PopService {
  /** Counters for status and tests. */
  readonly counters = { popped: 0, acked: 0, changed: 0 };
  readonly waiters: PopWaiters;
  private readonly locks = new KeyedLock();
  private readonly sections: RecordSections = emptySections();
  /** Checkpoint ids with a changeInvisibleDuration in progress. */
  private readonly changing = new Set<string>();
  private rotation = 0;
  private readonly unsubscribe: () => void;
  private readonly logger: Logger;

  private constructor(private readonly context: BrokerContext, readonly reviver: PopReviver) {
    this.waiters = new PopWaiters(context.options.maxHeldPullsPerConnection);
    this.logger = context.logger.child({ component: 'pop' });
    this.unsubscribe = context.store.onMessagesAvailable((topic) => {
      this.waiters.messagesAvailable(topic);
      if (topic === POP_REVIVE_TOPIC) reviver.trigger();
    });
  }

  static async open(context: BrokerContext): Promise<PopService> {
    const service = new PopService(context, await PopReviver.open(context));
    service.reviver.trigger(); // checkpoints that came due while the broker was down
    return service;
  }

  // --- pop ---------------------------------------------------------------------------------------------

  /** The queues a pop visits on this broker: every readable queue of its topics, and the group's retry queue. */
  private queuesOf(args: PopArgs): PopQueue[] {
    const out: PopQueue[] = [];
    for (const filter of args.subscriptions) {
      const config = this.context.topics.get(filter.topic);
      if (!config || (config.perm & TopicPerm.READ) === 0) continue;
      for (let queueId = 0; queueId < config.readQueueNums; queueId++) out.push({ topic: filter.topic, queueId, filter });
    }
    const retryTopic = retryTopicOf(args.group);
    if (this.context.store.queueOffsets(retryTopic, 0)) out.push({ topic: retryTopic, queueId: 0, filter: undefined });
    return out;
  }

  /** Topics whose new messages may make something visible to this pop. */
  topicsOf(args: PopArgs): string[] {
    return [...args.subscriptions.map((filter) => filter.topic), retryTopicOf(args.group)];
  }

  /** True when any queue of the pop has messages past the group's offset (a pop would read something). */
  hasVisible(args: PopArgs): boolean {
    for (const queue of this.queuesOf(args)) {
      const range = this.context.store.queueOffsets(queue.topic, queue.queueId);
      if (!range) continue;
      const committed = this.context.offsets.committed(args.group, queue.topic, queue.queueId);
      if (committed < 0 ? range.maxOffset > range.minOffset : committed < range.maxOffset) return true;
    }
    return false;
  }

  /**
   * Pops up to maxCount visible messages, visiting the queues in a rotating order. A queue that fails is logged and
   * skipped: what other queues gave is answered (it is invisible already); the first error is thrown only when
   * nothing was popped.
   */
  async pop(args: PopArgs): Promise<PopResult> {
    // A group new to the broker must have room before any queue is visited (one clear error, not one per queue).
    this.context.offsets.assertGroupRoom(args.group);
    const queues = this.queuesOf(args);
    const out: PopResult = { records: [], handles: [], invisibleUntil: 0 };
    const budget = { count: args.maxCount, bytes: args.maxBytes };
    const start = queues.length === 0 ? 0 : this.rotation++ % queues.length;
    let failure: { error: unknown } | undefined;
    for (let i = 0; i < queues.length && budget.count > 0 && budget.bytes > 0; i++) {
      const queue = queues[(start + i) % queues.length]!;
      try {
        await this.locks.run(`${args.group}\u0000${queue.topic}\u0000${queue.queueId}`, () => this.popQueue(args, queue, budget, out));
      } catch (error) {
        failure ??= { error };
        this.logger.warn({ err: error, group: args.group, topic: queue.topic, queueId: queue.queueId }, 'popping a queue failed; it is skipped by this pop');
      }
    }
    if (this.rotation >= Number.MAX_SAFE_INTEGER) this.rotation = 0;
    if (failure && out.records.length === 0) throw failure.error;
    return out;
  }

  private async startOffset(args: PopArgs, queue: PopQueue): Promise<number> {
    const { minOffset, maxOffset } = queueRange(this.context, queue.topic, queue.queueId);
    // A retry queue holds only this group's redeliveries: all of it, whatever fromWhere says.
    if (queue.filter === undefined) return minOffset;
    switch (args.fromWhere) {
      case 'FIRST_OFFSET':
        return minOffset;
      case 'LAST_OFFSET':
        return maxOffset;
      case 'TIMESTAMP': {
        const offset = await this.context.store.getOffsetByTime(queue.topic, queue.queueId, args.timestamp);
        return Math.min(Math.max(offset, minOffset), maxOffset);
      }
    }
  }

  /**
   * One queue, under its lock: read from the group's offset, checkpoint what matches, move the offset past the read.
   * Every move is conditional on the offset still being the one read from (see `advance`); once another writer
   * moved it, the pop leaves the queue.
   */
  private async popQueue(args: PopArgs, queue: PopQueue, budget: { count: number; bytes: number }, out: PopResult): Promise<void> {
    const { store, offsets } = this.context;
    const { group } = args;
    let offset = offsets.committed(group, queue.topic, queue.queueId);
    if (offset < 0) {
      const start = await this.startOffset(args, queue);
      // A commit or reset landed while the start was looked up: it decides where the group is.
      if (!this.advance(group, queue, -1, start)) return;
      offset = start;
    }
    for (let reads = 0; reads < MAX_FILTERED_READS; reads++) {
      // With a filter, read ahead (a few entries per read would crawl through unmatched messages) and trim below.
      const filtered = queue.filter?.tags !== undefined || queue.filter?.sql !== undefined;
      const maxCount = filtered ? Math.max(budget.count, FILTERED_READ_COUNT) : budget.count;
      const result = await store.read(queue.topic, queue.queueId, offset, { maxCount, maxBytes: budget.bytes, tagHashes: queue.filter?.tagHashes });
      if (result.status === 'OFFSET_TOO_SMALL' || result.status === 'NO_MATCHED_MESSAGE' || result.status === 'OFFSET_OVERFLOW') {
        // Retention moved the start, every read entry was filtered out, or the offset is past the end (reset): move on.
        const next = result.status === 'OFFSET_OVERFLOW' ? result.maxOffset : result.nextOffset;
        if (!this.advance(group, queue, offset, next)) return;
        offset = next;
        if (result.status === 'OFFSET_OVERFLOW' || offset >= result.maxOffset) return;
        continue;
      }
      if (result.status !== 'FOUND') return;
      let kept = this.matching(result.records, queue.filter);
      let nextOffset = result.nextOffset;
      if (kept.length > budget.count) {
        kept = kept.slice(0, budget.count);
        nextOffset = readU64(result.records, kept.at(-1)![0] + RecordField.QUEUE_OFFSET) + 1;
      }
      if (kept.length > 0) await this.checkpoint(args, queue, result.records, kept, out);
      budget.count -= kept.length;
      budget.bytes -= kept.reduce((sum, [start, end]) => sum + end - start, 0);
      // Moved meanwhile (reset): the checkpointed messages are still answered; the new offset stands.
      if (!this.advance(group, queue, offset, nextOffset)) return;
      offset = nextOffset;
      if (kept.length > 0 || offset >= result.maxOffset || budget.count <= 0 || budget.bytes <= 0) return;
    }
  }

  /**
   * Commits `next` for the queue if the group's offset is still `from` (the pop's lock keeps other pops out, not
   * RESET_OFFSET, COMMIT_OFFSET or a pull's commit); false when another writer moved it while the pop awaited.
   */
  private advance(group: string, queue: PopQueue, from: number, next: number): boolean {
    const moved = !this.context.offsets.commitIf(group, queue.topic, queue.queueId, from, next);
    if (moved) this.logger.info({ group, topic: queue.topic, queueId: queue.queueId, from, next }, 'the offset moved during a pop (reset or commit); the pop leaves it');
    return !moved;
  }

  /** [start, end] of each record that matches the filter exactly. */
  private matching(records: Buffer, filter: PopFilter | undefined): Array<[number, number]> {
    const kept: Array<[number, number]> = [];
    const sections = this.sections;
    for (let at = 0; at < records.length; at += sections.totalSize) {
      readRecordSections(records, at, records.length, sections, Number.MAX_SAFE_INTEGER);
      if (filter?.tags) {
        if (sections.tagsLength === 0) continue;
        if (!filter.tags.has(records.toString('utf8', sections.tagsStart, sections.tagsStart + sections.tagsLength))) continue;
      }
      if (filter?.sql && !filter.sql.matchesRecord(records, sections)) continue;
      kept.push([at, at + sections.totalSize]);
    }
    return kept;
  }

  /** Appends (through the timer) and schedules one checkpoint per kept record; adds the records and handles to `out`. */
  private async checkpoint(args: PopArgs, queue: PopQueue, records: Buffer, kept: Array<[number, number]>, out: PopResult): Promise<void> {
    const ids = randomBytes(16 * kept.length);
    const invisibleUntil = Date.now() + args.invisibleMs;
    const checkpoints = kept.map(([start], i) => {
      const checkpoint: PopCheckpoint = {
        group: args.group, topic: queue.topic, queueId: queue.queueId, queueOffset: readU64(records, start + RecordField.QUEUE_OFFSET),
        commitLogOffset: readU64(records, start + RecordField.COMMIT_LOG_OFFSET), msgId: readMessageId(records, start + RecordField.MSG_ID),
        maxReconsumeTimes: args.maxReconsumeTimes, invisibleMs: args.invisibleMs,
      };
      return encodeCheckpoint(checkpoint, ids.subarray(i * 16, i * 16 + 16), invisibleUntil);
    });
    const offsets = await this.appendCheckpoints(checkpoints);
    const { brokerName } = this.context.options;
    kept.forEach(([start, end], i) => {
      out.records.push(records.subarray(start, end));
      out.handles.push(encodeReceiptHandle({ brokerName, checkpointOffset: offsets[i]!, checkpointId: ids.toString('hex', i * 16, i * 16 + 16), invisibleUntil }));
    });
    if (out.invisibleUntil === 0 || invisibleUntil < out.invisibleUntil) out.invisibleUntil = invisibleUntil;
    this.counters.popped += kept.length;
  }

  /** Stores checkpoint records durably (in the log and the timer store) with one append; their commit-log offsets. */
  private async appendCheckpoints(checkpoints: Buffer[]): Promise<number[]> {
    const delay = delayOf(this.context);
    const prepared = delay.prepareSend(checkpoints.length === 1 ? checkpoints[0]! : concatRecords(checkpoints));
    const result = await this.context.store.append(prepared.body);
    delay.afterAppend(prepared, result);
    return result.commitLogOffsets;
  }

  // --- ack and change ----------------------------------------------------------------------------------

  /** The live checkpoint a handle names, for `group`; INVALID_REQUEST RECEIPT_HANDLE_INVALID otherwise. */
  private async load(group: string, text: string): Promise<{ id: string; stored: StoredCheckpoint }> {
    let handle;
    try {
      handle = parseReceiptHandle(text);
    } catch (error) {
      if (error instanceof ProtocolError) invalidHandle(error.message);
      throw error;
    }
    const { brokerName } = this.context.options;
    if (handle.brokerName !== brokerName) invalidHandle(`the receipt handle was issued by broker ${handle.brokerName}, not ${brokerName}`);
    const record = await this.context.store.readRecordAt(handle.checkpointOffset);
    const stored = record && storedCheckpoint(record, handle.checkpointId);
    if (!stored) invalidHandle(`no pop checkpoint ${handle.checkpointId} at offset ${handle.checkpointOffset} on broker ${brokerName} (not issued here, or removed by retention)`);
    if (stored.checkpoint.group !== group) invalidHandle(`the receipt handle belongs to group ${stored.checkpoint.group}, not ${group}`);
    return { id: handle.checkpointId, stored };
  }

  private expired(stored: StoredCheckpoint): never {
    const { checkpoint, invisibleUntil } = stored;
    throw rpcFailure(
      ResponseCode.RECEIPT_HANDLE_EXPIRED,
      `message ${checkpoint.msgId} became visible again at ${new Date(invisibleUntil).toISOString()}: it is delivered again (to any consumer of group ${checkpoint.group})`,
    );
  }

  private replaced(id: string): never {
    throw rpcFailure(ResponseCode.RECEIPT_HANDLE_STALE, `receipt handle ${id} was replaced by changeInvisibleDuration: use the handle it returned`);
  }

  /**
   * ACK_MESSAGE: the message is processed; idempotent while the handle is valid. A handle replaced by
   * changeInvisibleDuration is STALE (its replacement is still live), until its own time, then EXPIRED.
   */
  async ack(group: string, handle: string): Promise<{ msgId: string }> {
    const { id, stored } = await this.load(group, handle);
    const timers = delayOf(this.context).timers;
    const cancelled = timers.cancelKind(id);
    if (cancelled === 'replaced') this.replaced(id);
    if (Date.now() >= stored.invisibleUntil) this.expired(stored);
    if (cancelled === undefined) {
      timers.cancel(id, stored.invisibleUntil);
      this.counters.acked++;
    }
    return { msgId: stored.checkpoint.msgId };
  }

  /** CHANGE_INVISIBLE_TIME: a new checkpoint due `invisibleMs` from now replaces the handle's. */
  async changeInvisible(group: string, handle: string, invisibleMs: number): Promise<{ handle: string; invisibleUntil: number; msgId: string }> {
    const { id, stored } = await this.load(group, handle);
    const { checkpoint } = stored;
    const timers = delayOf(this.context).timers;
    if (timers.cancelKind(id) === 'replaced') this.replaced(id);
    if (Date.now() >= stored.invisibleUntil) this.expired(stored);
    if (this.changing.has(id)) throw rpcFailure(ResponseCode.RECEIPT_HANDLE_STALE, `receipt handle ${id} is being changed by another request`);
    if (timers.isCancelled(id)) throw rpcFailure(ResponseCode.RECEIPT_HANDLE_STALE, `message ${checkpoint.msgId} was already acknowledged`);
    this.changing.add(id);
    try {
      const newId = randomBytes(16);
      const invisibleUntil = Date.now() + invisibleMs;
      const [offset] = await this.appendCheckpoints([encodeCheckpoint({ ...checkpoint, invisibleMs }, newId, invisibleUntil)]);
      const newIdHex = newId.toString('hex').toUpperCase();
      // Acknowledged, or visible again, while the new checkpoint was written: the old handle decides; drop the new one.
      if (timers.isCancelled(id)) {
        timers.cancel(newIdHex, invisibleUntil);
        throw rpcFailure(ResponseCode.RECEIPT_HANDLE_STALE, `message ${checkpoint.msgId} was acknowledged meanwhile`);
      }
      if (Date.now() >= stored.invisibleUntil) {
        timers.cancel(newIdHex, invisibleUntil);
        this.expired(stored);
      }
      this.supersede(id, stored.invisibleUntil, newIdHex, invisibleUntil);
      this.counters.changed++;
      const next = encodeReceiptHandle({ brokerName: this.context.options.brokerName, checkpointOffset: offset!, checkpointId: newIdHex, invisibleUntil });
      return { handle: next, invisibleUntil, msgId: checkpoint.msgId };
    } finally {
      this.changing.delete(id);
    }
  }

  /**
   * Cancels the old checkpoint as replaced (persisted with its tombstone, so its handle stays STALE across a restart).
   * If that cannot be recorded the change fails: the new checkpoint is cancelled (best effort) and the old handle
   * stays the valid one.
   */
  private supersede(id: string, until: number, newId: string, newUntil: number): void {
    const timers = delayOf(this.context).timers;
    try {
      timers.cancel(id, until, 'replaced');
    } catch (error) {
      try {
        timers.cancel(newId, newUntil);
      } catch (cleanup) {
        this.logger.error({ err: cleanup, checkpointId: newId }, 'a failed changeInvisibleDuration left its new checkpoint live: the message may be delivered twice');
      }
      throw error;
    }
  }

  /** Answers every held pop (shutdown begins). */
  wakeAll(): void {
    this.waiters.wakeAll();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.waiters.wakeAll();
    await this.reviver.close();
  }
}

const services = new ContextServices<PopService>('pop consumption is not available on this broker');

/** Opens the broker's PopService (after the delay and retry services) and registers it for the processors. */
export async function openPop(context: BrokerContext): Promise<PopService> {
  return services.register(context, await PopService.open(context));
}

export function popOf(context: BrokerContext): PopService {
  return services.of(context);
}
