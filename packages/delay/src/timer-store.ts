import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { readU64, writeU64 } from '@litemq/protocol';
import type { TimerCancelKind } from './cancel-set.js';
import { CancelSet } from './cancel-set.js';
import { DueQueue } from './due-queue.js';
import { DelayError, DelayErrorCode } from './errors.js';
import { ENTRY_BYTES, TimerFlag } from './timer-layout.js';
import { TimerLog } from './timer-log.js';
import type { ResolvedTimerStoreOptions, TimerStoreOptions } from './timer-options.js';
import { resolveTimerOptions } from './timer-options.js';
import { TimerWheel } from './timer-wheel.js';

/** Set on entries re-appended because their time was beyond the wheel (not counted as new timers). */
const ROLLED = 0x8000;

/** A timer whose time has come, handed to the onDue handler. */
export interface DueTimer {
  deliverAt: number;
  commitLogOffset: number;
  size: number;
  /** TimerFlag bits (MESSAGE or CRON). */
  flags: number;
  /** 32 hex digits. */
  msgId: string;
}

/** Handles due timers; a rejection retries the whole batch after retryDelayMs (at-least-once). */
export type DueHandler = (timers: DueTimer[]) => Promise<void> | void;

export interface TimerStoreStats {
  /** Timers scheduled and not fired or cancelled yet. */
  pending: number;
  /** Timers loaded into memory ahead of their time (bounded by the load-ahead window). */
  loaded: number;
  fired: number;
  cancelled: number;
  rolled: number;
  /** Cancellation tombstones held (until the store has processed their timer's time). */
  tombstones: number;
  /** Timer log + wheel file bytes on disk. */
  diskBytes: number;
  /** Timer log bytes on disk (segments not reclaimed yet). */
  logBytes: number;
  /** Timer log segment files on disk. */
  logSegments: number;
  /** Timer log bytes deleted so far by this process (segments wholly behind the persisted read position). */
  reclaimedBytes: number;
  wheelBytes: number;
  /** Every tick before this one is fully fired. */
  readTick: number;
}

interface Checkpoint {
  version: 1;
  slots: number;
  precisionMs: number;
  logEnd: number;
  readTick: number;
  pending: number;
  watermark: number;
}

/** [readTick][pending][logEnd][rolledTick] (24 bytes in stores written before rolledTick existed). */
const PROGRESS_BYTES = 32;

/**
 * A durable timer store: a fixed-size wheel file (one slot per tick over the wheel span) and an
 * append-only log of 56-byte entries chained per slot. Memory holds the wheel mirror (fixed size) and the
 * timers due within `loadAheadMs` only, never the whole set of pending timers.
 *
 *   const timers = TimerStore.open('./data/timer');
 *   timers.onDue(async (due) => { ...deliver... });
 *   timers.schedule(Date.now() + 5_000, commitLogOffset, size, msgId);
 *   await timers.close();
 *
 * Durability: entries are written to the OS at the end of the current tick of the event loop (they
 * survive a process crash); the wheel is written at checkpoints and rebuilt from the log tail on open.
 * Firing is at-least-once: timers handed to the handler after the last persisted read position may be
 * handed again after a crash.
 */
export class TimerStore {
  readonly options: ResolvedTimerStoreOptions;
  private readonly logger: Logger | undefined;
  private readonly queue = new DueQueue();
  private readonly outstanding = new Map<number, number>();
  private handler: DueHandler | undefined;
  private readTick: number;
  private loadedTick: number;
  private pendingCount: number;
  private fired = 0;
  private cancelled = 0;
  private rolled = 0;
  private inFlight = new Set<Promise<void>>();
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private flushQueued = false;
  private progressDirty = false;
  private closed = false;
  private readonly checkpointTimer: NodeJS.Timeout;
  private reclaimed = 0;
  /** Read tick saved in the last checkpoint: recovery never loads a slot before it. */
  private checkpointReadTick: number;
  /** Incremental scan of the wheel for the oldest log position a live slot still chains to (see reclaim()). */
  private scanAt = -1;
  private scanMin = Infinity;
  /**
   * Slots before this tick have had their rolls appended and made durable (saved in `progress`): reloading
   * such a slot after a restart must not roll its entries again (the copies exist; a second copy would fire twice).
   */
  private rolledTick = 0;
  /** User value saved with each checkpoint (the broker keeps its timer-topic queue offset here). */
  watermark: number;
  /** commitLogOffsets of MESSAGE entries found in the log after the last checkpoint (recovery de-duplication). */
  readonly recoveredOffsets = new Set<number>();

  private constructor(
    private readonly dir: string,
    options: ResolvedTimerStoreOptions,
    private readonly wheel: TimerWheel,
    private readonly log: TimerLog,
    private readonly cancels: CancelSet,
    private readonly progressFd: number,
    checkpoint: Checkpoint,
  ) {
    this.options = options;
    this.logger = options.logger;
    this.readTick = checkpoint.readTick;
    this.loadedTick = checkpoint.readTick;
    this.checkpointReadTick = checkpoint.readTick;
    this.pendingCount = checkpoint.pending;
    this.watermark = checkpoint.watermark;
    this.checkpointTimer = setInterval(() => this.safeCheckpoint(), options.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  /** Opens (creating if needed) the timer store in `dir` and recovers it. */
  static open(dir: string, options: TimerStoreOptions = {}): TimerStore {
    const resolved = resolveTimerOptions(options);
    mkdirSync(dir, { recursive: true });
    const slots = Math.ceil(resolved.wheelSpanMs / resolved.precisionMs);
    const now = Date.now();
    const startTick = Math.floor(now / resolved.precisionMs);
    let checkpoint = readCheckpoint(join(dir, 'checkpoint'));
    if (checkpoint && (checkpoint.slots !== slots || checkpoint.precisionMs !== resolved.precisionMs)) {
      throw new DelayError(
        DelayErrorCode.INVALID_OPTIONS,
        `timer store ${dir} was created with precisionMs ${checkpoint.precisionMs} and ${checkpoint.slots} slots; it cannot be reopened with precisionMs ${resolved.precisionMs} and ${slots} slots`,
      );
    }
    const wheel = TimerWheel.open(join(dir, 'wheel'), slots);
    const log = TimerLog.open(join(dir, 'timerlog'), resolved.logSegmentBytes);
    const cancels = CancelSet.open(join(dir, 'cancelled'));
    const progressPath = join(dir, 'progress');
    closeSync(openSync(progressPath, 'a+'));
    const progressFd = openSync(progressPath, 'r+');
    const progress = Buffer.alloc(PROGRESS_BYTES);
    const progressRead = readSync(progressFd, progress, 0, PROGRESS_BYTES, 0);
    checkpoint ??= { version: 1, slots, precisionMs: resolved.precisionMs, logEnd: ENTRY_BYTES, readTick: startTick, pending: 0, watermark: 0 };
    let pending = checkpoint.pending;
    let pendingFrom = checkpoint.logEnd;
    let readTick = checkpoint.readTick;
    let rolledTick = 0;
    if (progressRead >= 24) {
      if (progressRead >= 32) rolledTick = readU64(progress, 24);
      const progressTick = readU64(progress, 0);
      const progressPending = readU64(progress, 8);
      const progressLogEnd = readU64(progress, 16);
      if (progressTick > readTick) readTick = progressTick;
      if (progressLogEnd >= checkpoint.logEnd && progressLogEnd <= log.end) {
        pending = progressPending;
        pendingFrom = progressLogEnd;
      }
    }
    const store = new TimerStore(dir, resolved, wheel, log, cancels, progressFd, { ...checkpoint, readTick, pending });
    store.rolledTick = rolledTick;
    store.replay(checkpoint.logEnd, pendingFrom);
    store.checkpoint();
    return store;
  }

  /** Re-links the log entries written after the checkpoint into the wheel; cuts a torn tail. */
  private replay(from: number, pendingFrom: number): void {
    let replayed = 0;
    for (let pos = Math.max(from, ENTRY_BYTES, this.log.start); pos < this.log.end; pos += ENTRY_BYTES) {
      const entry = this.log.read(pos);
      if (!entry) {
        this.logger?.warn({ pos, end: this.log.end }, 'timer log: torn tail cut');
        this.log.truncate(pos);
        break;
      }
      replayed++;
      if ((entry.flags & TimerFlag.MESSAGE) !== 0) this.recoveredOffsets.add(entry.commitLogOffset);
      if (pos >= pendingFrom && (entry.flags & ROLLED) === 0) this.pendingCount++;
      if (entry.slotTick < this.readTick) continue;
      const stored = this.wheel.storedTick(entry.slotTick);
      if (stored > entry.slotTick) continue;
      if (stored === entry.slotTick && this.wheel.get(entry.slotTick).lastPos >= pos) continue;
      this.wheel.link(entry.slotTick, pos);
    }
    if (replayed > 0) this.logger?.info({ replayed }, 'timer log replayed after the checkpoint');
  }

  private tickOf(time: number): number {
    return Math.floor(time / this.options.precisionMs);
  }

  /**
   * Schedules a timer firing at `deliverAt` (ms since epoch; a past time fires at once). Throws
   * DELAY_TOO_LONG beyond maxDelayMs. Durable once this tick of the event loop ends.
   */
  schedule(deliverAt: number, commitLogOffset: number, size: number, msgId: string | Buffer, flags: number = TimerFlag.MESSAGE): void {
    if (this.closed) throw new DelayError(DelayErrorCode.CLOSED, 'the timer store is closed');
    if (!Number.isFinite(deliverAt)) throw new DelayError(DelayErrorCode.INVALID_OPTIONS, `deliverAt must be a finite time, got ${deliverAt}`);
    const max = Date.now() + this.options.maxDelayMs;
    if (deliverAt > max) {
      throw new DelayError(
        DelayErrorCode.DELAY_TOO_LONG,
        `delivery time ${new Date(deliverAt).toISOString()} is ${deliverAt - Date.now()} ms away; the maximum delay is ${this.options.maxDelayMs} ms`,
      );
    }
    const id = typeof msgId === 'string' ? Buffer.from(msgId, 'hex') : msgId;
    if (id.length !== 16) throw new DelayError(DelayErrorCode.INVALID_OPTIONS, 'msgId must be 16 bytes (32 hex digits)');
    this.pendingCount++;
    this.append(Math.max(1, Math.trunc(deliverAt)), commitLogOffset, size, flags & 0x7fff, id);
  }

  private append(deliverAt: number, commitLogOffset: number, size: number, flags: number, msgId: Buffer): void {
    const slotTick = Math.min(Math.max(this.tickOf(deliverAt), this.readTick), this.readTick + this.wheel.slots - 1);
    const pos = this.log.end;
    const prevPos = this.wheel.link(slotTick, pos);
    this.log.append({ prevPos, deliverAt, slotTick, commitLogOffset, size, flags, msgId });
    if (slotTick < this.loadedTick) this.pushLoaded(deliverAt, slotTick, commitLogOffset, size, flags & 0x7fff, msgId, 0);
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      if (!this.closed) this.log.flush();
    });
  }

  private pushLoaded(deliverAt: number, tick: number, commitLogOffset: number, size: number, flags: number, id: Uint8Array, idOffset: number): void {
    this.outstanding.set(tick, (this.outstanding.get(tick) ?? 0) + 1);
    this.queue.push(deliverAt, deliverAt, tick, commitLogOffset, size, flags, id, idOffset);
    if (deliverAt < this.wakeAt) this.arm(deliverAt - Date.now());
  }

  /**
   * Records a cancellation: the timer of `msgId`, due at or before `until` (default now + maxDelayMs), will not
   * fire. The tombstone is kept until the store has durably processed every timer due by then (however long the
   * store was closed meanwhile), so it also bounds how long the tombstone is kept if no such timer fires. `kind`
   * is kept with it (see `cancelKind`). Throws, recording nothing, when the tombstone cannot be written to disk.
   */
  cancel(msgId: string, until = Date.now() + this.options.maxDelayMs, kind: TimerCancelKind = 'cancelled'): void {
    if (this.closed) throw new DelayError(DelayErrorCode.CLOSED, 'the timer store is closed');
    // A timer scheduled in the past waits in the slot of the read position: keep the tombstone past that too.
    this.cancels.add(msgId.toLowerCase(), Math.max(until, this.readTick * this.options.precisionMs), kind);
  }

  isCancelled(msgId: string): boolean {
    return this.cancels.has(msgId.toLowerCase());
  }

  /** How the timer of `msgId` was cancelled (kept, like the tombstone, across restarts until it fires), or undefined. */
  cancelKind(msgId: string): TimerCancelKind | undefined {
    return this.cancels.kind(msgId.toLowerCase());
  }

  /** Sets the handler of due timers and starts firing. */
  onDue(handler: DueHandler): void {
    this.handler = handler;
    this.arm(0);
  }

  private arm(delay: number): void {
    if (this.closed || !this.handler) return;
    const ms = Math.max(0, Math.min(delay, this.options.precisionMs));
    const at = Date.now() + ms;
    if (this.wake && at >= this.wakeAt) return;
    if (this.wake) clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(() => {
      this.wake = undefined;
      this.wakeAt = Infinity;
      this.run();
    }, ms);
  }

  /** Loads one slot's chain into the due queue, reading entries in place (no object per entry). */
  private loadSlot(tick: number): void {
    const slot = this.wheel.get(tick);
    const log = this.log;
    let pos = slot.lastPos;
    let seen = 0;
    while (pos !== 0 && seen < slot.count) {
      if (!log.locate(pos) || readU64(log.hitBuf, log.hitOffset + 16) !== tick) {
        this.logger?.error({ tick, pos }, 'timer log chain broken; the rest of this slot is lost');
        break;
      }
      const buf = log.hitBuf;
      const at = log.hitOffset;
      seen++;
      const prevPos = readU64(buf, at);
      const deliverAt = readU64(buf, at + 8);
      const commitLogOffset = readU64(buf, at + 24);
      const size = buf.readUInt32BE(at + 32);
      const flags = buf.readUInt16BE(at + 36) & 0x7fff;
      if (this.tickOf(deliverAt) > tick) {
        // Beyond this turn of the wheel: roll it forward (append may flush and reuse the log's buffers: copy the id),
        // unless that was done (durably) before a restart.
        pos = prevPos;
        if (tick < this.rolledTick) continue;
        this.rolled++;
        this.append(deliverAt, commitLogOffset, size, flags | ROLLED, Buffer.from(buf.subarray(at + 40, at + 56)));
      } else {
        this.pushLoaded(deliverAt, tick, commitLogOffset, size, flags, buf, at + 40);
      }
      pos = prevPos;
    }
  }

  private load(now: number): boolean {
    const horizon = this.tickOf(now + this.options.loadAheadMs);
    const limit = this.readTick + this.wheel.slots - 2;
    let budget = 100_000;
    while (this.loadedTick <= horizon && this.loadedTick <= limit && budget-- > 0) {
      // Nothing can be linked beyond readTick + slots: skip empty stretches after a long outage.
      this.loadSlot(this.loadedTick);
      this.loadedTick++;
      this.progressDirty = true;
    }
    return this.loadedTick <= horizon && this.loadedTick <= limit;
  }

  private done(slot: number): void {
    const tick = this.queue.tick[slot]!;
    const left = (this.outstanding.get(tick) ?? 1) - 1;
    if (left <= 0) this.outstanding.delete(tick);
    else this.outstanding.set(tick, left);
    this.queue.release(slot);
  }

  private advance(): void {
    const before = this.readTick;
    while (this.readTick < this.loadedTick && !this.outstanding.has(this.readTick)) this.readTick++;
    if (this.readTick !== before) this.progressDirty = true;
  }

  private writeProgress(): void {
    if (!this.progressDirty) return;
    this.progressDirty = false;
    this.log.flush();
    const buf = Buffer.allocUnsafe(PROGRESS_BYTES);
    writeU64(buf, 0, this.readTick);
    writeU64(buf, 8, Math.max(0, this.pendingCount));
    writeU64(buf, 16, this.log.end);
    writeU64(buf, 24, Math.max(this.rolledTick, this.loadedTick));
    writeSync(this.progressFd, buf, 0, PROGRESS_BYTES, 0);
  }

  private run(): void {
    if (this.closed || !this.handler) return;
    let now = Date.now();
    let more = false;
    try {
      more = this.load(now);
    } catch (error) {
      this.logger?.error({ err: error }, 'loading timers failed');
    }
    now = Date.now();
    const queue = this.queue;
    const batch: number[] = [];
    while (queue.peekFireAt() <= now) {
      if (batch.length >= this.options.maxBatch) {
        more = true;
        break;
      }
      const slot = queue.pop();
      if (this.cancels.size > 0 && this.cancels.take(queue.idHex(slot))) {
        this.cancelled++;
        this.pendingCount--;
        this.done(slot);
        continue;
      }
      batch.push(slot);
    }
    if (batch.length > 0) this.deliver(batch);
    this.advance();
    this.writeProgress();
    const next = queue.peekFireAt();
    if (more) setImmediate(() => this.run());
    else this.arm(next === Infinity ? this.options.precisionMs : next - Date.now());
  }

  private deliver(batch: number[]): void {
    const queue = this.queue;
    const due: DueTimer[] = batch.map((slot) => ({
      deliverAt: queue.deliverAt[slot]!, commitLogOffset: queue.commitLogOffset[slot]!, size: queue.size[slot]!, flags: queue.flags[slot]!, msgId: queue.idHex(slot),
    }));
    const handler = this.handler!;
    const task = (async () => {
      try {
        await handler(due);
        for (const slot of batch) this.done(slot);
        this.fired += batch.length;
        this.pendingCount -= batch.length;
      } catch (error) {
        this.logger?.warn({ err: error, timers: batch.length }, 'delivering due timers failed; retrying');
        const retryAt = Date.now() + this.options.retryDelayMs;
        for (const slot of batch) {
          queue.fireAt[slot] = retryAt;
          queue.insert(slot);
        }
      }
      this.advance();
      this.arm(0);
    })();
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Writes buffered entries, the changed wheel slots and the checkpoint. */
  checkpoint(): void {
    if (this.closed) return;
    this.log.flush();
    this.wheel.flush();
    const checkpoint: Checkpoint = {
      version: 1, slots: this.wheel.slots, precisionMs: this.options.precisionMs, logEnd: this.log.end, readTick: this.readTick,
      pending: Math.max(0, this.pendingCount), watermark: this.watermark,
    };
    const path = join(this.dir, 'checkpoint');
    writeFileSync(`${path}.tmp`, JSON.stringify(checkpoint));
    renameSync(`${path}.tmp`, path);
    this.checkpointReadTick = checkpoint.readTick;
    this.recoveredOffsets.clear();
    // Every timer due before the saved read tick was fired or dropped, durably: their tombstones are done.
    this.cancels.expire(checkpoint.readTick * this.options.precisionMs);
    this.reclaim(checkpoint.logEnd);
  }

  /**
   * Deletes timer log segments nothing can need any more. Recovery replays the log from the checkpoint's
   * `logEnd` and loads slots from the checkpoint's read tick on, following each slot's chain back to its
   * oldest entry (`firstPos`; a slot's entries are appended in order, so none is older). A segment wholly
   * before both bounds only holds entries of fired (or rolled, i.e. re-appended) timers. The wheel is scanned
   * in steps of `reclaimScanSlots` per checkpoint; the minimum of one pass is a safe bound at its end, because a
   * slot that gets a (new) chain during the pass starts it at a position after the pass began.
   */
  private reclaim(logEnd: number): void {
    if (this.log.segmentCount < 2) {
      this.scanAt = -1;
      return;
    }
    if (this.scanAt < 0) {
      this.scanAt = 0;
      this.scanMin = logEnd;
    }
    const slots = this.wheel.slots;
    const count = Math.min(this.options.reclaimScanSlots, slots - this.scanAt);
    this.scanMin = Math.min(this.scanMin, this.wheel.minFirstPos(this.checkpointReadTick, this.scanAt, count));
    this.scanAt += count;
    if (this.scanAt < slots) return;
    this.scanAt = -1;
    const freed = this.log.reclaim(Math.min(this.scanMin, logEnd));
    if (freed > 0) {
      this.reclaimed += freed;
      this.logger?.debug({ freed, start: this.log.start }, 'timer log segments reclaimed');
    }
  }

  private safeCheckpoint(): void {
    try {
      this.checkpoint();
    } catch (error) {
      this.logger?.error({ err: error }, 'timer checkpoint failed');
    }
  }

  stats(): TimerStoreStats {
    return {
      pending: Math.max(0, this.pendingCount), loaded: this.queue.length, fired: this.fired, cancelled: this.cancelled, rolled: this.rolled, tombstones: this.cancels.retained,
      diskBytes: this.log.diskBytes + this.wheel.bytes, logBytes: this.log.diskBytes, logSegments: this.log.segmentCount, reclaimedBytes: this.reclaimed,
      wheelBytes: this.wheel.bytes, readTick: this.readTick,
    };
  }

  /** Stops firing, waits for batches being delivered, checkpoints and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.checkpointTimer);
    if (this.wake) clearTimeout(this.wake);
    this.handler = undefined;
    await Promise.allSettled([...this.inFlight]);
    this.advance();
    this.progressDirty = true;
    this.writeProgress();
    this.checkpoint();
    this.closed = true;
    this.wheel.close();
    this.log.close();
    closeSync(this.progressFd);
  }
}

function readCheckpoint(path: string): Checkpoint | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Checkpoint;
    if (value.version !== 1 || typeof value.logEnd !== 'number') throw new Error('bad version');
    return value;
  } catch (error) {
    throw new DelayError(DelayErrorCode.TIMER_CORRUPT, `timer checkpoint ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}
