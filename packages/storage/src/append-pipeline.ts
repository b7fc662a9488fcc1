import type { RecordSections } from '@litemq/protocol';
import {
  KEY_SEPARATOR, RecordField, emptySections, patchStoredFields, rangesEqual, readCheckedSections, readRecordSections, tagHashOfBytes, validateTopicName,
} from '@litemq/protocol';
import type { CommitLog } from './commit-log.js';
import { END_OF_SEGMENT_MIN_BYTES } from './commit-log.js';
import type { ConsumeQueue } from './consume-queue.js';
import { StorageError, StorageErrorCode } from './errors.js';
import type { FlushService } from './flush-service.js';
import type { IndexService } from './index-service.js';
import { keyHashAt, messageIdHashAt } from './index-keys.js';
import type { QueueRegistry } from './queue-registry.js';

export type AppendStatus = 'PUT_OK' | 'FLUSH_TIMEOUT';

/** Where the records of one append landed, in the order they were given. */
export interface AppendResult {
  /** PUT_OK, or FLUSH_TIMEOUT in sync mode when fdatasync did not confirm in time (the bytes are written). */
  status: AppendStatus;
  commitLogOffsets: number[];
  queueOffsets: number[];
  storeTimestamp: number;
}

interface PendingAppend {
  buf: Buffer;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

export const MAX_QUEUE_ID = 65_535;
const KEY_SEPARATOR_BYTE = KEY_SEPARATOR.charCodeAt(0);

/**
 * The single writer of the store. Appends that arrive while a batch is being written wait and are
 * written together as the next batch: one writev for all their records, one dispatch pass, and in sync
 * mode one shared fdatasync. Offsets are assigned in log order, so queue offsets follow the log.
 */
export class AppendPipeline {
  private pending: PendingAppend[] = [];
  private running = false;
  private readonly sections: RecordSections = emptySections();
  // Dispatch work of the current batch in flat arrays: no object per record.
  private readonly dispatchQueues: ConsumeQueue[] = [];
  private readonly dispatchNumbers: number[] = [];
  private readonly indexNumbers: number[] = [];
  /** Everything below is written and dispatched to queues and the index. */
  dispatchedOffset: number;
  refuseReason: StorageError | undefined;

  constructor(
    private readonly log: CommitLog,
    private readonly queues: QueueRegistry,
    private readonly index: IndexService,
    private readonly flush: FlushService,
    private readonly syncFlush: boolean,
    private readonly storeHost: Buffer | undefined,
    private readonly maxBodyBytes: number,
  ) {
    this.dispatchedOffset = log.maxOffset;
  }

  /**
   * Queues one or more concatenated records. Validates them first, so a malformed record rejects only
   * this call and nothing is written. The buffer is patched in place: do not reuse it.
   *
   * `checkedMaxBodyBytes`: the caller already ran `readRecordSections` on every record of `buf` with this body
   * limit. If it is not above the store's own limit, the structure is not walked a second time (the store's
   * other checks still run); otherwise, or when it is omitted, every record is fully checked here.
   */
  append(buf: Buffer, checkedMaxBodyBytes?: number): Promise<AppendResult> {
    if (this.refuseReason) return Promise.reject(this.refuseReason);
    try {
      return this.enqueue(buf, checkedMaxBodyBytes !== undefined && checkedMaxBodyBytes <= this.maxBodyBytes);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private enqueue(buf: Buffer, structureChecked: boolean): Promise<AppendResult> {
    let offset = 0;
    let count = 0;
    let topicStart = -1;
    let topicLength = 0;
    while (offset < buf.length) {
      if (structureChecked) readCheckedSections(buf, offset, this.sections);
      else readRecordSections(buf, offset, buf.length, this.sections, this.maxBodyBytes);
      const queueId = buf.readUInt32BE(offset + RecordField.QUEUE_ID);
      if (queueId > MAX_QUEUE_ID) {
        return Promise.reject(new StorageError(StorageErrorCode.QUEUE_ID_INVALID, `queue id ${queueId} exceeds ${MAX_QUEUE_ID}`));
      }
      if (this.sections.totalSize + END_OF_SEGMENT_MIN_BYTES > this.log.segmentBytes) {
        return Promise.reject(new StorageError(StorageErrorCode.RECORD_TOO_LARGE, `record of ${this.sections.totalSize} bytes cannot fit a ${this.log.segmentBytes}-byte segment`));
      }
      // Topics become directory names: a new one must be a valid name (no path tricks). Records of a frame
      // usually share a topic: it is decoded and checked once per run of equal topic bytes.
      if (topicStart < 0 || this.sections.topicLength !== topicLength || !rangesEqual(buf, topicStart, this.sections.topicStart, topicLength)) {
        topicStart = this.sections.topicStart;
        topicLength = this.sections.topicLength;
        const topic = buf.toString('latin1', topicStart, topicStart + topicLength);
        if (!this.queues.hasTopic(topic)) validateTopicName(topic, { allowSystem: true });
      }
      offset += this.sections.totalSize;
      count++;
    }
    if (count === 0) return Promise.resolve({ status: 'PUT_OK', commitLogOffsets: [], queueOffsets: [], storeTimestamp: Date.now() });
    return new Promise<AppendResult>((resolve, reject) => {
      const result: AppendResult = { status: 'PUT_OK', commitLogOffsets: new Array<number>(count), queueOffsets: new Array<number>(count), storeTimestamp: 0 };
      this.pending.push({ buf, result, resolve, reject });
      if (!this.running) {
        this.running = true;
        queueMicrotask(() => void this.run());
      }
    });
  }

  private async run(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        this.reserveAndPatch(batch);
      } catch (error) {
        this.log.abandonPending();
        this.discardDispatch();
        for (const append of batch) append.reject(error);
        continue;
      }
      try {
        this.log.writePending();
      } catch (error) {
        this.discardDispatch();
        if (this.log.broken) this.refuseReason = this.log.broken;
        for (const append of batch) append.reject(error);
        continue;
      }
      try {
        this.dispatch();
      } catch (error) {
        // The records are in the log (recovery rebuilds queues from it), but a failing disk must stop writes.
        this.discardDispatch();
        this.refuseReason = new StorageError(StorageErrorCode.WRITE_FAILED, `consume-queue write failed: ${(error as Error).message}`, { cause: error });
      }
      let durable = true;
      if (this.syncFlush) {
        try {
          durable = await this.flush.waitDurable();
        } catch (error) {
          for (const append of batch) append.reject(error);
          continue;
        }
      }
      for (const append of batch) {
        if (!durable) append.result.status = 'FLUSH_TIMEOUT';
        append.resolve(append.result);
      }
    }
    this.running = false;
  }

  private reserveAndPatch(batch: PendingAppend[]): void {
    const now = Date.now();
    const sections = this.sections;
    for (const append of batch) {
      const { buf, result } = append;
      result.storeTimestamp = now;
      // A frame that fits the current segment is reserved as one piece (its records land back to back, exactly as
      // a record-by-record reservation would place them): no view and no iovec per record.
      const base = this.log.fitsInSegment(buf.length) ? this.log.append(buf) : -1;
      let at = 0;
      let topic = '';
      let topicStart = -1;
      let topicLength = 0;
      for (let i = 0; at < buf.length; i++) {
        // Every record was checked in enqueue (and the buffer belongs to the store since): read the positions only.
        readCheckedSections(buf, at, sections);
        const size = sections.totalSize;
        // Records of a frame usually share a topic: decode it once, then compare bytes.
        if (topicStart < 0 || sections.topicLength !== topicLength || !rangesEqual(buf, topicStart, sections.topicStart, topicLength)) {
          topic = buf.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength);
          topicStart = sections.topicStart;
          topicLength = sections.topicLength;
        }
        const queue = this.queues.getOrCreate(topic, buf.readUInt32BE(at + RecordField.QUEUE_ID));
        const queueOffset = this.queues.reserveOffset(queue);
        const commitLogOffset = base >= 0 ? base + at : this.log.append(size === buf.length ? buf : buf.subarray(at, at + size));
        patchStoredFields(buf, at, sections, queueOffset, commitLogOffset, now, this.storeHost);
        result.commitLogOffsets[i] = commitLogOffset;
        result.queueOffsets[i] = queueOffset;
        this.dispatchQueues.push(queue);
        this.dispatchNumbers.push(queueOffset, commitLogOffset, size, tagHashOfBytes(buf, sections.tagsStart, sections.tagsStart + sections.tagsLength));
        this.collectIndexHashes(buf, at, sections, commitLogOffset, now);
        at += size;
      }
    }
  }

  private collectIndexHashes(buf: Buffer, at: number, sections: RecordSections, commitLogOffset: number, now: number): void {
    this.indexNumbers.push(messageIdHashAt(buf, at + RecordField.MSG_ID), commitLogOffset, now);
    const topicEnd = sections.topicStart + sections.topicLength;
    const keysEnd = sections.keysStart + sections.keysLength;
    let keyStart = sections.keysStart;
    for (let i = sections.keysStart; i <= keysEnd; i++) {
      if (i === keysEnd || buf[i] === KEY_SEPARATOR_BYTE) {
        if (i > keyStart) this.indexNumbers.push(keyHashAt(buf, sections.topicStart, topicEnd, keyStart, i), commitLogOffset, now);
        keyStart = i + 1;
      }
    }
  }

  /** Hands the written batch to the consume queues (written behind, in batches) and the index. */
  private dispatch(): void {
    const numbers = this.dispatchNumbers;
    const queues = this.dispatchQueues;
    for (let i = 0; i < queues.length; i++) {
      const n = i * 4;
      queues[i]!.put(numbers[n]!, numbers[n + 1]!, numbers[n + 2]!, numbers[n + 3]!);
    }
    for (let i = 0; i < queues.length; i++) queues[i]!.commit(); // a no-op once a queue's entries are written
    const index = this.indexNumbers;
    for (let i = 0; i < index.length; i += 3) this.index.add(index[i]!, index[i + 1]!, index[i + 2]!);
    this.discardDispatch();
    this.dispatchedOffset = this.log.maxOffset;
  }

  private discardDispatch(): void {
    this.dispatchQueues.length = 0;
    this.dispatchNumbers.length = 0;
    this.indexNumbers.length = 0;
    this.queues.resetReservations();
  }

  /** Resolves once every append queued so far is settled. */
  async idle(): Promise<void> {
    while (this.running) await new Promise((resolve) => setImmediate(resolve));
  }
}
