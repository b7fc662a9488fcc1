import { join } from 'node:path';
import type { PendingTransactionInfo, TransactionResolution } from '@litemq/protocol';
import { RecordField, readMessageId } from '@litemq/protocol';
import type { AppendResult, MessageStore } from '@litemq/storage';
import type { TxnLogger } from './constants.js';
import { OpType, TXN_HALF_TOPIC, TXN_OP_TOPIC, TXN_QUEUE_ID, silentTxnLogger } from './constants.js';
import { TxnError, TxnErrorCode } from './errors.js';
import { BoundedMap, HalfCache } from './half-cache.js';
import type { ResolvedTransactionOptions, TransactionOptions } from './options.js';
import { resolveTransactionOptions } from './options.js';
import { PendingState, PendingTable } from './pending-table.js';
import type { HalfInfo } from './txn-records.js';
import { encodeOpRecord, isCommitOf, readHalfInfo, readOpInfo, toCommittedRecord, toHalfRecord } from './txn-records.js';
import { readSnapshotFile, writeSnapshotFile } from './txn-snapshot.js';

/**
 * Sends a check-back for a half to a live producer of its group. Resolves true if a producer acknowledged it,
 * false if none could be reached (the check still counts).
 */
export type CheckBack = (half: Buffer, info: HalfInfo) => Promise<boolean>;

export type EndSource = 'producer' | 'check' | 'operator' | 'policy' | 'recovery';

export interface EndOutcome {
  /** How the transaction ended; UNKNOWN if it ended before this start and the outcome was forgotten. */
  outcome: TransactionResolution | 'UNKNOWN';
  /** False if it was already resolved and this call changed nothing. */
  applied: boolean;
  halfOffset: number;
  msgId: string;
}

export interface TransactionServiceConfig extends TransactionOptions {
  /** Where the snapshot of the pending state lives. */
  dir: string;
  checkBack?: CheckBack;
  logger?: TxnLogger;
}

export interface ScanReport {
  checked: number;
  delivered: number;
  rolledBack: number;
  kept: number;
  verifiedCommits: number;
}

export interface ListOptions {
  limit?: number;
  producerGroup?: string;
  topic?: string;
}

const SNAPSHOT_FILE = 'txn-state.snapshot';
const REPLAY_BATCH = 1024;
const LIST_MAX_SCAN = 10_000;

/**
 * Transactional (half) messages over a MessageStore, independent of the network:
 *
 * - `prepare` stores a half on `%TXN_HALF%` (queue 0) with its real topic and queue in system properties;
 * - `end` commits (the message is re-encoded onto its real topic, then an op record on `%TXN_OP%` in the same
 *   append, real message first) or rolls back (op only), exactly once per half;
 * - a scan checks halves older than their immunity back through `checkBack`, every checkIntervalMs, at most
 *   maxChecks times (each check is an op record too), then applies the exhaustion policy;
 * - state is a compact table of pending offsets, snapshotted every snapshotIntervalMs with the queue offsets it
 *   covers, and rebuilt on open from the snapshot plus a replay of the half and op queues after it.
 *
 * After a restart every pending half is marked VERIFY: before it is resolved or checked, the store is asked
 * (by message id) whether its committed message exists already; if so only the missing op is written.
 */
export class TransactionService {
  readonly options: ResolvedTransactionOptions;
  private readonly logger: TxnLogger;
  private readonly table = new PendingTable();
  private readonly cache: HalfCache;
  private readonly recent: BoundedMap<TransactionResolution>;
  private readonly resolving = new Map<number, Promise<EndOutcome>>();
  private checkBack: CheckBack | undefined;
  private halfNext = 0;
  private opNext = 0;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private barrier: Promise<void> | undefined;
  private scanning: Promise<ScanReport> | undefined;
  private snapshotting: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  private constructor(
    private readonly store: MessageStore,
    private readonly snapshotPath: string,
    config: TransactionServiceConfig,
  ) {
    const { checkBack, logger, ...rest } = config;
    const options: Partial<TransactionServiceConfig> = { ...rest };
    delete options.dir;
    this.options = resolveTransactionOptions(options);
    this.logger = logger ?? silentTxnLogger;
    this.checkBack = checkBack;
    this.cache = new HalfCache(this.options.halfCacheBytes);
    this.recent = new BoundedMap(this.options.recentResolutions);
  }

  /** Loads the snapshot, replays the queues after it, and starts the check scan and the snapshot timer. */
  static async open(store: MessageStore, config: TransactionServiceConfig): Promise<TransactionService> {
    const service = new TransactionService(store, join(config.dir, SNAPSHOT_FILE), config);
    await service.recover();
    service.every(service.options.scanIntervalMs, () => void service.scan().catch((error: unknown) => service.logger.error({ err: error }, 'transaction check scan failed')));
    service.every(service.options.snapshotIntervalMs, () => void service.snapshot().catch((error: unknown) => service.logger.error({ err: error }, 'transaction snapshot failed')));
    return service;
  }

  /** Sets (or replaces) how check-backs reach producers. */
  setCheckBack(checkBack: CheckBack | undefined): void {
    this.checkBack = checkBack;
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  get pendingCount(): number {
    return this.table.size;
  }

  /** Memory figures of the pending state, for benchmarks and status. */
  stats(): { pending: number; tableCapacity: number; cachedHalves: number; cachedBytes: number; recent: number } {
    return { pending: this.table.size, tableCapacity: this.table.capacity, cachedHalves: this.cache.size, cachedBytes: this.cache.byteSize, recent: this.recent.size };
  }

  private assertOpen(): void {
    if (this.closed) throw new TxnError(TxnErrorCode.TXN_CLOSED, 'the transaction service is closed');
  }

  // --- recovery ---------------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const snapshot = await readSnapshotFile(this.snapshotPath);
    let halfFrom = 0;
    let opFrom = 0;
    if (snapshot) {
      for (const entry of snapshot.entries) this.table.add(entry.offset, entry.storeTime, entry.nextCheckAt, entry.checks, PendingState.VERIFY);
      halfFrom = snapshot.halfCursor;
      opFrom = snapshot.opCursor;
    }
    const halves = await this.replay(TXN_HALF_TOPIC, halfFrom, (record, at) => {
      const info = readHalfInfo(record.subarray(at, at + record.readUInt32BE(at)));
      this.table.add(info.halfOffset, info.storeTimestamp, info.storeTimestamp + (info.immunityMs ?? this.options.immunityMs), 0, PendingState.VERIFY);
    });
    const ops = await this.replay(TXN_OP_TOPIC, opFrom, (record, at) => {
      const op = readOpInfo(record, at);
      if (!op) return;
      const slot = this.table.slot(op.halfOffset);
      if (slot === undefined) return;
      if (op.type === OpType.CHECK) {
        this.table.setChecks(slot, this.table.checks(slot) + 1);
        this.table.setNextCheckAt(slot, Math.max(this.table.nextCheckAt(slot), op.storeTimestamp + this.options.checkIntervalMs));
      } else {
        this.table.remove(op.halfOffset);
        this.recent.set(op.halfOffset, op.type === OpType.COMMIT ? 'COMMIT' : 'ROLLBACK');
      }
    });
    this.halfNext = this.store.queueOffsets(TXN_HALF_TOPIC, TXN_QUEUE_ID)?.maxOffset ?? 0;
    this.opNext = this.store.queueOffsets(TXN_OP_TOPIC, TXN_QUEUE_ID)?.maxOffset ?? 0;
    this.logger.info({ pending: this.table.size, snapshot: snapshot !== undefined, replayedHalves: halves, replayedOps: ops }, 'transaction state recovered');
  }

  private async replay(topic: string, from: number, apply: (records: Buffer, at: number) => void): Promise<number> {
    const range = this.store.queueOffsets(topic, TXN_QUEUE_ID);
    if (!range) return 0;
    let offset = Math.max(from, range.minOffset);
    let count = 0;
    while (offset < range.maxOffset) {
      const result = await this.store.read(topic, TXN_QUEUE_ID, offset, { maxCount: REPLAY_BATCH });
      const records = result.records;
      for (let at = 0; at < records.length; at += records.readUInt32BE(at)) {
        apply(records, at);
        count++;
      }
      if (result.nextOffset <= offset) break;
      offset = result.nextOffset;
    }
    return count;
  }

  // --- writes -----------------------------------------------------------------------------------------

  /** Appends and applies the result before the write counts as finished (snapshots wait for that). */
  private async write(records: Buffer, apply: (result: AppendResult) => void): Promise<AppendResult> {
    while (this.barrier) await this.barrier;
    this.assertOpen();
    this.inflight++;
    try {
      const result = await this.store.append(records);
      apply(result);
      return result;
    } finally {
      this.inflight--;
      if (this.inflight === 0 && this.drained) {
        const drained = this.drained;
        this.drained = undefined;
        drained();
      }
    }
  }

  private noteQueueOffsets(records: Buffer, result: AppendResult): void {
    let at = 0;
    for (let i = 0; i < result.queueOffsets.length; i++) {
      const size = records.readUInt32BE(at);
      const topicStart = at + RecordField.BODY + records.readUInt32BE(at + RecordField.BODY_LENGTH);
      const isOp = records.toString('latin1', topicStart + 1, topicStart + 1 + records[topicStart]!) === TXN_OP_TOPIC;
      const next = result.queueOffsets[i]! + 1;
      if (isOp) this.opNext = Math.max(this.opNext, next);
      at += size;
    }
  }

  /** Stores a producer's prepared record as a half message. */
  async prepare(record: Buffer, meta: { producerGroup: string; transactionId: string }): Promise<{ halfOffset: number; msgId: string; storeTimestamp: number }> {
    this.assertOpen();
    const { half, msgId, immunityMs } = toHalfRecord(record, meta);
    const result = await this.write(half, (appended) => {
      const offset = appended.commitLogOffsets[0]!;
      this.halfNext = Math.max(this.halfNext, appended.queueOffsets[0]! + 1);
      this.table.add(offset, appended.storeTimestamp, appended.storeTimestamp + (immunityMs ?? this.options.immunityMs));
      this.cache.put(offset, half);
    });
    return { halfOffset: result.commitLogOffsets[0]!, msgId, storeTimestamp: result.storeTimestamp };
  }

  private async halfRecord(offset: number): Promise<Buffer | undefined> {
    return this.cache.get(offset) ?? (await this.store.readRecordAt(offset));
  }

  /**
   * Commits or rolls back the half at `halfOffset` exactly once. Concurrent and later duplicates change nothing
   * (`applied: false`). Throws TRANSACTION_NOT_FOUND if there is no half with that offset (and `msgId`).
   */
  async end(halfOffset: number, resolution: TransactionResolution, options: { msgId?: string; source?: EndSource } = {}): Promise<EndOutcome> {
    this.assertOpen();
    const running = this.resolving.get(halfOffset);
    if (running) {
      const earlier = await running;
      return { ...earlier, applied: false };
    }
    if (!this.table.has(halfOffset)) return this.notPending(halfOffset, options.msgId);
    const resolve = this.resolve(halfOffset, resolution, options.msgId, options.source ?? 'producer');
    this.resolving.set(halfOffset, resolve);
    try {
      return await resolve;
    } finally {
      this.resolving.delete(halfOffset);
    }
  }

  private async notPending(halfOffset: number, msgId: string | undefined): Promise<EndOutcome> {
    const record = await this.store.readRecordAt(halfOffset);
    let info: HalfInfo | undefined;
    try {
      info = record ? readHalfInfo(record) : undefined;
    } catch {
      info = undefined;
    }
    if (!info || (msgId !== undefined && info.msgId !== msgId)) {
      throw new TxnError(TxnErrorCode.TRANSACTION_NOT_FOUND, `no half message at offset ${halfOffset}${msgId ? ` with id ${msgId}` : ''}`);
    }
    return { outcome: this.recent.get(halfOffset) ?? 'UNKNOWN', applied: false, halfOffset, msgId: info.msgId };
  }

  private async resolve(halfOffset: number, resolution: TransactionResolution, msgId: string | undefined, source: EndSource): Promise<EndOutcome> {
    const half = await this.halfRecord(halfOffset);
    if (!half) {
      // The half record is gone (retention): only a rollback is possible.
      if (resolution === 'COMMIT') throw new TxnError(TxnErrorCode.TRANSACTION_NOT_FOUND, `the half message at offset ${halfOffset} is no longer stored; it cannot be committed`);
      await this.recordOp(halfOffset, 'ROLLBACK', encodeOpRecord(OpType.ROLLBACK, halfOffset));
      return { outcome: 'ROLLBACK', applied: true, halfOffset, msgId: msgId ?? '' };
    }
    const halfMsgId = readMessageId(half, RecordField.MSG_ID);
    if (msgId !== undefined && msgId !== halfMsgId) {
      throw new TxnError(TxnErrorCode.TRANSACTION_NOT_FOUND, `the half message at offset ${halfOffset} has id ${halfMsgId}, not ${msgId}`);
    }
    if (await this.committedBeforeCrash(halfOffset, halfMsgId)) {
      await this.recordOp(halfOffset, 'COMMIT', encodeOpRecord(OpType.COMMIT, halfOffset));
      this.logger.info({ halfOffset, msgId: halfMsgId, source }, 'transaction found committed after a restart: op recorded');
      return { outcome: 'COMMIT', applied: resolution === 'COMMIT', halfOffset, msgId: halfMsgId };
    }
    const op = encodeOpRecord(resolution === 'COMMIT' ? OpType.COMMIT : OpType.ROLLBACK, halfOffset);
    // Real message first, op second, in one append: a crash can lose the op but never keep an op without its message.
    const records = resolution === 'COMMIT' ? Buffer.concat([toCommittedRecord(half), op]) : op;
    await this.recordOp(halfOffset, resolution, records);
    if (source !== 'producer') this.logger.info({ halfOffset, msgId: halfMsgId, resolution, source }, 'transaction resolved');
    return { outcome: resolution, applied: true, halfOffset, msgId: halfMsgId };
  }

  /** For a half pending since before this start: is its committed message already on the real topic? */
  private async committedBeforeCrash(halfOffset: number, msgId: string): Promise<boolean> {
    const slot = this.table.slot(halfOffset);
    if (slot === undefined || !this.table.hasState(slot, PendingState.VERIFY)) return false;
    const found = await this.store.getMessageById(msgId);
    const committed = found !== undefined && isCommitOf(found, halfOffset);
    const again = this.table.slot(halfOffset);
    if (!committed && again !== undefined) this.table.setState(again, PendingState.VERIFY, false);
    return committed;
  }

  private async recordOp(halfOffset: number, outcome: TransactionResolution, records: Buffer): Promise<void> {
    await this.write(records, (result) => {
      this.noteQueueOffsets(records, result);
      this.table.remove(halfOffset);
      this.cache.delete(halfOffset);
      this.recent.set(halfOffset, outcome);
    });
  }

  /** The pending half with this message id, if any. */
  async findPending(msgId: string): Promise<number | undefined> {
    this.assertOpen();
    const record = await this.store.getMessageById(msgId);
    if (!record) return undefined;
    try {
      const info = readHalfInfo(record);
      return this.table.has(info.halfOffset) ? info.halfOffset : undefined;
    } catch {
      return undefined; // the newest record with this id is not a half (e.g. its committed message)
    }
  }

  /** Pending halves, oldest first: at most `limit` (default 100), scanning at most 10 000. */
  async list(options: ListOptions = {}): Promise<{ total: number; transactions: PendingTransactionInfo[] }> {
    this.assertOpen();
    const limit = options.limit ?? 100;
    const now = Date.now();
    const out: PendingTransactionInfo[] = [];
    let scanned = 0;
    for (const offset of [...this.table.offsetsInOrder()].sort((a, b) => a - b)) {
      if (out.length >= limit || scanned >= LIST_MAX_SCAN) break;
      scanned++;
      const record = await this.halfRecord(offset);
      const slot = this.table.slot(offset);
      if (!record || slot === undefined) continue;
      const info = readHalfInfo(record);
      if (options.producerGroup !== undefined && info.producerGroup !== options.producerGroup) continue;
      if (options.topic !== undefined && info.topic !== options.topic) continue;
      const checks = this.table.checks(slot);
      out.push({
        halfOffset: offset, msgId: info.msgId, transactionId: info.transactionId, producerGroup: info.producerGroup, topic: info.topic, queueId: info.queueId,
        ageMs: Math.max(0, now - this.table.storeTime(slot)), checks,
        exhausted: this.table.hasState(slot, PendingState.KEPT) || (this.options.exhaustionPolicy === 'keep' && checks >= this.options.maxChecks),
      });
    }
    return { total: this.table.size, transactions: out };
  }

  // --- check-backs ------------------------------------------------------------------------------------

  /** Checks every due half (in windows of checkConcurrency), applying the exhaustion policy. Also runs on a timer. */
  scan(now = Date.now()): Promise<ScanReport> {
    this.scanning ??= this.scanNow(now).finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanNow(now: number): Promise<ScanReport> {
    const report: ScanReport = { checked: 0, delivered: 0, rolledBack: 0, kept: 0, verifiedCommits: 0 };
    while (!this.closed) {
      const due = this.table.due(now, this.options.checkConcurrency).filter((offset) => !this.resolving.has(offset));
      if (due.length === 0) break;
      const checkOps: Buffer[] = [];
      await Promise.all(due.map((offset) => this.checkOne(offset, now, report, checkOps)));
      if (checkOps.length > 0 && !this.closed) {
        const records = Buffer.concat(checkOps);
        await this.write(records, (result) => this.noteQueueOffsets(records, result));
      }
    }
    return report;
  }

  private async checkOne(offset: number, now: number, report: ScanReport, checkOps: Buffer[]): Promise<void> {
    const slot = this.table.slot(offset);
    if (slot === undefined) return;
    if (this.table.checks(slot) >= this.options.maxChecks) {
      if (this.options.exhaustionPolicy === 'keep') {
        this.table.setState(slot, PendingState.KEPT, true);
        report.kept++;
        this.logger.warn({ halfOffset: offset, checks: this.table.checks(slot) }, 'transaction checks exhausted: kept for an operator');
        return;
      }
      this.table.setState(slot, PendingState.BUSY, true);
      try {
        const outcome = await this.end(offset, 'ROLLBACK', { source: 'policy' });
        if (outcome.applied) report.rolledBack++;
        else if (outcome.outcome === 'COMMIT') report.verifiedCommits++;
      } catch (error) {
        this.logger.error({ err: error, halfOffset: offset }, 'rolling back an exhausted transaction failed');
        this.postpone(offset, now);
      } finally {
        this.clearBusy(offset);
      }
      return;
    }
    this.table.setState(slot, PendingState.BUSY, true);
    try {
      const half = await this.halfRecord(offset);
      if (!half) {
        this.logger.warn({ halfOffset: offset }, 'half message no longer stored: rolled back');
        await this.end(offset, 'ROLLBACK', { source: 'policy' });
        report.rolledBack++;
        return;
      }
      const info = readHalfInfo(half);
      if (await this.committedBeforeCrash(offset, info.msgId)) {
        await this.end(offset, 'COMMIT', { source: 'recovery' });
        report.verifiedCommits++;
        return;
      }
      const current = this.table.slot(offset);
      if (current === undefined || this.resolving.has(offset)) return;
      this.table.setChecks(current, this.table.checks(current) + 1);
      this.table.setNextCheckAt(current, now + this.options.checkIntervalMs);
      checkOps.push(encodeOpRecord(OpType.CHECK, offset));
      report.checked++;
      const delivered = this.checkBack ? await this.checkBack(half, info).catch(() => false) : false;
      if (delivered) report.delivered++;
      else this.logger.debug({ halfOffset: offset, producerGroup: info.producerGroup }, 'no producer of the group answered the check');
    } catch (error) {
      this.logger.error({ err: error, halfOffset: offset }, 'transaction check failed');
      this.postpone(offset, now);
    } finally {
      this.clearBusy(offset);
    }
  }

  private postpone(offset: number, now: number): void {
    const slot = this.table.slot(offset);
    if (slot !== undefined) this.table.setNextCheckAt(slot, now + this.options.checkIntervalMs);
  }

  private clearBusy(offset: number): void {
    const slot = this.table.slot(offset);
    if (slot !== undefined) this.table.setState(slot, PendingState.BUSY, false);
  }

  // --- snapshots ----------------------------------------------------------------------------------------

  /** Persists the pending table with the queue offsets it covers. New writes wait while it is captured. */
  snapshot(): Promise<void> {
    this.snapshotting ??= this.snapshotNow().finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  private async snapshotNow(): Promise<void> {
    let release!: () => void;
    this.barrier = new Promise((resolve) => (release = resolve));
    let captured: { halfCursor: number; opCursor: number; entries: Array<{ offset: number; storeTime: number; nextCheckAt: number; checks: number }> };
    try {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      captured = { halfCursor: this.halfNext, opCursor: this.opNext, entries: [...this.table.entries()] };
    } finally {
      this.barrier = undefined;
      release();
    }
    await writeSnapshotFile(this.snapshotPath, captured);
  }

  /** Stops the timers, waits for a running scan, and writes a last snapshot. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.scanning?.catch(() => undefined);
    await Promise.allSettled([...this.resolving.values()]);
    await this.snapshot().catch((error: unknown) => this.logger.error({ err: error }, 'final transaction snapshot failed'));
    this.closed = true;
  }
}
