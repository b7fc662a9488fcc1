import { mkdir, rm, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { DEFAULT_MAX_BODY_BYTES, HOST_BYTES, MAX_RECORD_SECTIONS_BYTES, RECORD_HEADER_BYTES, RecordField, messageIdBytes, readRecordKeys, readRecordSections, readRecordTopic, readU64, splitHostPort, verifyStoredRecordCrc, writeHost } from '@litemq/protocol';
import type { AppendResult } from './append-pipeline.js';
import { AppendPipeline } from './append-pipeline.js';
import { queueKey, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { CommitLog } from './commit-log.js';
import { CQ_ENTRY_BYTES } from './consume-queue.js';
import { StorageError, StorageErrorCode } from './errors.js';
import { FlushService } from './flush-service.js';
import { IndexService } from './index-service.js';
import { keyHash, messageIdHashAt } from './index-keys.js';
import type { MessageStoreOptions, ResolvedStoreOptions } from './options.js';
import { resolveStoreOptions } from './options.js';
import { QueueRegistry } from './queue-registry.js';
import type { ReadOptions, ReadResult } from './queue-reader.js';
import { readQueue } from './queue-reader.js';
import type { RecoveryReport } from './recovery.js';
import { recoverStore } from './recovery.js';
import type { RetentionRun } from './retention-service.js';
import { RetentionService } from './retention-service.js';
import { acquireStoreLock } from './store-lock.js';

export interface QueryOptions {
  maxResults?: number;
  beginTimestamp?: number;
  endTimestamp?: number;
}

export type MessagesAvailableListener = (topic: string, queueId: number, maxOffset: number) => void;

const ABORT_MARKER = 'abort';

/**
 * A durable message store: one CommitLog for every topic, a ConsumeQueue per topic queue, a hash index
 * by message id and key, checkpoints and crash recovery, flush and retention. Independent of the broker:
 * anything that can encode records (see @litemq/protocol `encodeRecord`) can use it.
 */
export class MessageStore {
  /**
   * Reads check CRCs of records below this offset: all of them, or (trustOwnWrites) those already on disk
   * when the store was opened — records this process appended were checksummed when they were accepted.
   */
  private get verifyBelow(): number {
    if (!this.options.verifyOnRead) return 0;
    return this.options.trustOwnWrites ? this.recovery.logEnd : Number.MAX_SAFE_INTEGER;
  }

  /** True once close() has begun. */
  closed = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;
  private readonly listeners = new Set<MessagesAvailableListener>();

  private constructor(
    readonly dir: string,
    readonly options: ResolvedStoreOptions,
    private readonly log: CommitLog,
    private readonly queues: QueueRegistry,
    private readonly index: IndexService,
    private readonly flush: FlushService,
    private readonly pipeline: AppendPipeline,
    private readonly retention: RetentionService,
    private readonly releaseLock: () => Promise<void>,
    private readonly logger: Logger,
    /** What recovery found and did when this store was opened. */
    readonly recovery: RecoveryReport,
  ) {}

  /** Opens (creating if needed) the store in `dir`, recovering from any unclean stop first. */
  static async open(dir: string, options: MessageStoreOptions = {}): Promise<MessageStore> {
    const resolved = resolveStoreOptions(options);
    const logger = resolved.logger ?? pino({ name: 'litemq-storage', level: 'warn' });
    await mkdir(dir, { recursive: true });
    const releaseLock = await acquireStoreLock(dir);
    try {
      const unclean = await access(join(dir, ABORT_MARKER)).then(() => true, () => false);
      if (unclean) logger.warn({ dir }, 'store was not closed cleanly: recovering');
      const checkpoint = await readCheckpoint(dir);
      const log = await CommitLog.open(join(dir, 'commitlog'), resolved.segmentBytes);
      const queues = new QueueRegistry(join(dir, 'consumequeue'), resolved.consumeQueueEntriesPerSegment);
      await queues.load();
      const index = await IndexService.open(join(dir, 'index'), { slotCount: resolved.indexSlotCount, maxEntriesPerFile: resolved.indexMaxEntriesPerFile });
      if (index.corruptFiles.length > 0) logger.warn({ files: index.corruptFiles }, 'corrupt index files set aside: re-indexing');
      const recovery = await recoverStore(log, queues, index, checkpoint, unclean, logger);
      await writeFile(join(dir, ABORT_MARKER), String(process.pid));

      let storeHost: Buffer | undefined;
      if (resolved.storeHost) {
        const { address, port } = splitHostPort(resolved.storeHost);
        storeHost = Buffer.alloc(HOST_BYTES);
        writeHost(storeHost, 0, address, port);
      }
      const flush = new FlushService(log, resolved.flushMode, resolved.flushIntervalMs, resolved.syncFlushTimeoutMs, logger);
      const pipeline = new AppendPipeline(log, queues, index, flush, resolved.flushMode === 'sync', storeHost, resolved.maxBodyBytes);
      flush.onFatal = (error) => {
        pipeline.refuseReason = error;
      };
      const safeOffset = () => Math.min(flush.flushedOffset, pipeline.dispatchedOffset);
      const retention = new RetentionService(dir, log, queues, index, resolved, safeOffset, (reason) => {
        // Retention only sets or lifts its own DISK_FULL refusal: never STORE_CLOSED, WRITE_FAILED or FLUSH_FAILED.
        const current = pipeline.refuseReason;
        if (!current || current.code === StorageErrorCode.DISK_FULL) pipeline.refuseReason = reason;
      }, logger);
      const store = new MessageStore(dir, resolved, log, queues, index, flush, pipeline, retention, releaseLock, logger, recovery);
      queues.onWritten = (queue) => store.notify(queue.topic, queue.queueId, queue.maxOffset);
      await store.checkpoint();
      flush.start();
      retention.start();
      await retention.runOnce();
      store.checkpointTimer = setInterval(() => {
        store.checkpoint().catch((error: unknown) => logger.error({ err: error }, 'checkpoint failed'));
      }, resolved.checkpointIntervalMs);
      store.checkpointTimer.unref();
      return store;
    } catch (error) {
      await releaseLock();
      throw error;
    }
  }

  private notify(topic: string, queueId: number, maxOffset: number): void {
    for (const listener of this.listeners) listener(topic, queueId, maxOffset);
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError(StorageErrorCode.STORE_CLOSED, `store ${this.dir} is closed`);
  }

  /**
   * Appends one record or a batch of concatenated records (from `encodeRecord`). Resolves once they are
   * written (async flush) or durable (sync flush; FLUSH_TIMEOUT status if fdatasync is late). The buffer
   * is patched in place with offsets and store time, and must not be reused by the caller.
   *
   * Pass `checkedMaxBodyBytes` only when every record already passed `readRecordSections` with that body limit
   * (a broker that validated the frame): if it is not above the store's limit, the structure is not walked again.
   */
  append(records: Buffer, checkedMaxBodyBytes?: number): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new StorageError(StorageErrorCode.STORE_CLOSED, `store ${this.dir} is closed`));
    return this.pipeline.append(records, checkedMaxBodyBytes);
  }

  /** Reads up to `maxCount` records of a queue starting at logical `offset`, as raw stored bytes. */
  async read(topic: string, queueId: number, offset: number, options: ReadOptions = {}): Promise<ReadResult> {
    this.assertOpen();
    const queue = this.queues.get(topic, queueId);
    if (!queue) return { status: 'NO_QUEUE', records: Buffer.alloc(0), count: 0, nextOffset: 0, minOffset: 0, maxOffset: 0 };
    return readQueue(this.log, queue, offset, options, this.verifyBelow, this.logger);
  }

  /** The stored record at `commitLogOffset`, or undefined if there is none (or it is corrupt). */
  async readRecordAt(commitLogOffset: number): Promise<Buffer | undefined> {
    this.assertOpen();
    if (commitLogOffset < this.log.minOffset || commitLogOffset >= this.log.maxOffset) return undefined;
    const head = await this.log.read(commitLogOffset, RECORD_HEADER_BYTES);
    if (head.length < RECORD_HEADER_BYTES) return undefined;
    // Offsets come from clients (receipt handles, send-backs): the header must be a stored record's own before its
    // declared size is trusted, and no size beyond the largest record the store accepts (or ever did by default) is read.
    if (readU64(head, RecordField.COMMIT_LOG_OFFSET) !== commitLogOffset) return undefined;
    const bodyLength = head.readUInt32BE(RecordField.BODY_LENGTH);
    const size = head.readUInt32BE(RecordField.TOTAL_SIZE);
    if (bodyLength > Math.max(this.options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES) || size < RECORD_HEADER_BYTES + bodyLength || size > RECORD_HEADER_BYTES + bodyLength + MAX_RECORD_SECTIONS_BYTES) return undefined;
    const record = await this.log.read(commitLogOffset, size);
    try {
      const sections = readRecordSections(record, 0, record.length, undefined, Number.MAX_SAFE_INTEGER);
      if (sections.totalSize !== record.length) return undefined;
      if (this.options.verifyOnRead) verifyStoredRecordCrc(record, 0, sections);
    } catch {
      return undefined; // structurally broken or its CRC fails: corrupt bytes are never served
    }
    return readU64(record, RecordField.COMMIT_LOG_OFFSET) === commitLogOffset ? record : undefined;
  }

  private async candidates(hash: number, options: QueryOptions, accept: (record: Buffer) => boolean): Promise<Buffer[]> {
    const maxResults = options.maxResults ?? 32;
    const offsets = await this.index.lookup(hash, { maxResults: maxResults * 4, beginTimestamp: options.beginTimestamp, endTimestamp: options.endTimestamp });
    const found: Buffer[] = [];
    const seen = new Set<number>();
    for (const offset of offsets) {
      if (seen.has(offset)) continue; // recovery may index a record twice
      seen.add(offset);
      const record = await this.readRecordAt(offset);
      if (record && accept(record)) found.push(record);
      if (found.length >= maxResults) break;
    }
    return found;
  }

  /** Looks a message up by its message id (the client-generated unique id). */
  async getMessageById(msgId: string): Promise<Buffer | undefined> {
    this.assertOpen();
    const id = messageIdBytes(msgId);
    const [record] = await this.candidates(messageIdHashAt(id, 0), { maxResults: 1 }, (candidate) =>
      candidate.subarray(RecordField.MSG_ID, RecordField.MSG_ID + id.length).equals(id),
    );
    return record;
  }

  /** Messages of `topic` carrying `key`, newest first. */
  async queryByKey(topic: string, key: string, options: QueryOptions = {}): Promise<Buffer[]> {
    this.assertOpen();
    return this.candidates(keyHash(topic, key), options, (candidate) => {
      const sections = readRecordSections(candidate, 0, candidate.length, undefined, Number.MAX_SAFE_INTEGER);
      return readRecordTopic(candidate, sections) === topic && readRecordKeys(candidate, sections).includes(key);
    });
  }

  /** The first logical offset of the queue whose record was stored at or after `timestamp`. */
  async getOffsetByTime(topic: string, queueId: number, timestamp: number): Promise<number> {
    this.assertOpen();
    const queue = this.queues.get(topic, queueId);
    if (!queue) return 0;
    let low = queue.minOffset;
    let high = queue.maxOffset;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const storeTime = await this.storeTimeAt(queue.topic, queueId, mid);
      if (storeTime === undefined || storeTime < timestamp) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private async storeTimeAt(topic: string, queueId: number, offset: number): Promise<number | undefined> {
    const queue = this.queues.get(topic, queueId)!;
    // Holes have no time: look at the next real entry instead.
    for (let at = offset; at < queue.maxOffset; at++) {
      const entry = await queue.readEntries(at, 1);
      if (entry.length < CQ_ENTRY_BYTES) return undefined;
      if (entry.readUInt32BE(8) === 0) continue;
      const head = await this.log.read(readU64(entry, 0), RECORD_HEADER_BYTES);
      return head.length === RECORD_HEADER_BYTES ? readU64(head, RecordField.STORE_TIMESTAMP) : undefined;
    }
    return undefined;
  }

  /** Min and max logical offsets of a queue (max = the offset the next message will get). */
  queueOffsets(topic: string, queueId: number): { minOffset: number; maxOffset: number } | undefined {
    const queue = this.queues.get(topic, queueId);
    return queue ? { minOffset: queue.minOffset, maxOffset: queue.maxOffset } : undefined;
  }

  topics(): string[] {
    return this.queues.topicNames();
  }

  queueIds(topic: string): number[] {
    return this.queues.queuesOf(topic).map((queue) => queue.queueId).sort((a, b) => a - b);
  }

  /** Called whenever new records of a queue become readable. Returns an unsubscribe function. */
  onMessagesAvailable(listener: MessagesAvailableListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get minOffset(): number {
    return this.log.minOffset;
  }

  get maxOffset(): number {
    return this.log.maxOffset;
  }

  get flushedOffset(): number {
    return this.flush.flushedOffset;
  }

  /** Makes queues and index durable, flushes the log and records how far all of it reaches. */
  checkpoint(): Promise<void> {
    this.checkpointing ??= this.writeCheckpointNow().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async writeCheckpointNow(): Promise<void> {
    const dispatchedOffset = this.pipeline.dispatchedOffset;
    const queues: Record<string, number> = {};
    for (const queue of this.queues.all()) {
      await queue.sync();
      queues[queueKey(queue.topic, queue.queueId)] = queue.maxOffset;
    }
    await this.index.flush();
    const commitLogFlushedOffset = await this.flush.flushNow();
    await writeCheckpoint(this.dir, { commitLogFlushedOffset, dispatchedOffset: Math.min(dispatchedOffset, commitLogFlushedOffset), queues, writtenAt: Date.now() });
  }

  /** Runs retention and the disk check now (they also run every cleanIntervalMs). */
  runRetention(): Promise<RetentionRun> {
    this.assertOpen();
    return this.retention.runOnce();
  }

  /** Stops accepting appends, finishes those in flight, flushes, checkpoints and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pipeline.refuseReason = new StorageError(StorageErrorCode.STORE_CLOSED, `store ${this.dir} is closed`);
    await this.pipeline.idle();
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.flush.stop();
    this.retention.stop();
    await this.checkpoint();
    await this.index.close();
    this.queues.closeAll();
    this.log.close();
    await rm(join(this.dir, ABORT_MARKER), { force: true });
    await this.releaseLock();
    this.listeners.clear();
  }
}
