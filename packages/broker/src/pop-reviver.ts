import { join } from 'node:path';
import type { Logger } from 'pino';
import { RecordField, RemoteError, isLiteMQError, readMessageId, readU64 } from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';
import { delayOf } from './delay-service.js';
import { BrokerErrorCode } from './errors.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';
import type { PopCheckpoint } from './pop-checkpoint.js';
import { POP_REVIVE_TOPIC, parseCheckpoint } from './pop-checkpoint.js';
import { retryOf } from './retry-service.js';

const READ_BATCH = 64;
/** Backoff after a transient failure: doubles from the first to the last. */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 30_000;
/**
 * A revived checkpoint's tombstone is kept until the timer store has processed this much time past the revival: a
 * checkpoint fired again (crash) or re-read (offset not saved yet) meanwhile is skipped. Checkpoints revived beyond
 * a transient failure are remembered by revive offset instead (`revivedAhead`), for as long as the failure lasts.
 */
const REVIVED_TOMBSTONE_MS = 60_000;
/** Codes of errors that clear by themselves (the store or the broker is busy, full or restarting). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set(['FLUSH_FAILED', 'STORE_CLOSED', 'BROKER_CLOSED', 'SYSTEM_BUSY']);

/**
 * Whether retrying the same checkpoint later may succeed: retriable LiteMQ errors, store states that clear, and I/O
 * errors. Anything else (a name that is not valid, a damaged record, a bug) fails the same way every time.
 */
function isTransient(error: unknown): boolean {
  if (isLiteMQError(error)) return error.retriable || TRANSIENT_CODES.has(error.code);
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

interface DueCheckpoint {
  id: string;
  queueOffset: number;
  checkpoint: PopCheckpoint | undefined;
}

/** `config/pop-revive.json`: the next revive offset, and the checkpoints at or after it already processed. */
interface ReviveFile {
  offset?: unknown;
  /** [revive queue offset, checkpoint id] pairs. */
  revived?: unknown;
}

/**
 * Redelivers popped messages nobody acknowledged in time. A checkpoint whose invisible time ended is delivered by
 * the timer to `%POP_REVIVE%`; this reads that queue from a persisted offset and, for each checkpoint neither
 * acknowledged nor superseded (both cancel its timer), hands the popped message to the retry service: stored at
 * once on `%RETRY%<group>` with reconsumeTimes + 1 (the invisible time was the backoff), or in `%DLQ%<group>` past
 * maxReconsumeTimes. A revived checkpoint is then cancelled too, so a checkpoint delivered twice (the timer is
 * at-least-once across a crash) or read twice (offset saved after the batch) is redelivered once.
 *
 * Failures are per checkpoint. A permanent one (e.g. the group's retry topic name is not valid) is logged with the
 * checkpoint and the message dead-lettered if possible, else dropped: the offset moves on, so one bad checkpoint
 * never holds up the others. A transient one (store busy, disk full) stops the offset at that checkpoint and the
 * run is retried with backoff; checkpoints after it that were processed meanwhile are remembered by revive offset
 * (saved with the offset, dropped once the offset passes them), so they are not revived twice however long the
 * failure lasts: at most one read batch of them.
 */
export class PopReviver {
  /** Counters for status and tests. */
  readonly counters = { retried: 0, deadLettered: 0, skipped: 0, missing: 0, failed: 0, transientFailures: 0 };
  private offset = -1;
  /** Checkpoints at or after `offset` already processed (revive offset → checkpoint id): skipped when read again. */
  private readonly revivedAhead = new Map<number, string>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Transient failures in a row (sets the backoff). */
  private failures = 0;
  private readonly saver: SerialSaver;
  private readonly logger: Logger;

  private constructor(private readonly context: BrokerContext, private readonly path: string) {
    this.saver = new SerialSaver(() => writeJsonAtomic(this.path, { offset: this.offset, revived: [...this.revivedAhead] }));
    this.logger = context.logger.child({ component: 'pop-revive' });
  }

  static async open(context: BrokerContext): Promise<PopReviver> {
    const reviver = new PopReviver(context, join(context.options.dataDir, 'config', 'pop-revive.json'));
    const file = (await readJsonFile(reviver.path)) as ReviveFile | undefined;
    if (file && typeof file === 'object' && Number.isSafeInteger(file.offset)) reviver.offset = file.offset as number;
    if (file && typeof file === 'object' && Array.isArray(file.revived)) {
      for (const entry of file.revived as unknown[]) {
        if (Array.isArray(entry) && Number.isSafeInteger(entry[0]) && typeof entry[1] === 'string') reviver.revivedAhead.set(entry[0] as number, entry[1]);
      }
    }
    return reviver;
  }

  /** Next `%POP_REVIVE%` offset to process (-1 before the first). */
  get reviveOffset(): number {
    return this.offset;
  }

  /** Processes the checkpoints due so far (serialised; a call while running runs once more afterwards). */
  trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.drain();
        this.failures = 0;
      } catch (error) {
        if (this.closed) return;
        const delayMs = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(this.failures++, 20));
        this.counters.transientFailures++;
        this.logger.warn({ err: error, reviveOffset: this.offset, retryInMs: delayMs }, 'redelivering an expired pop failed; retrying it');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.trigger(), delayMs);
        this.retryTimer.unref();
        return;
      }
    } while (this.again && !this.closed);
  }

  private async drain(): Promise<void> {
    const store = this.context.store;
    while (!this.closed) {
      const range = store.queueOffsets(POP_REVIVE_TOPIC, 0);
      if (!range) return;
      if (this.offset < range.minOffset) this.offset = range.minOffset;
      if (this.offset >= range.maxOffset) return;
      const result = await store.read(POP_REVIVE_TOPIC, 0, this.offset, { maxCount: READ_BATCH });
      if (result.status !== 'FOUND') {
        if (result.nextOffset > this.offset) {
          this.offset = result.nextOffset;
          continue;
        }
        return;
      }
      const records = result.records;
      const due: DueCheckpoint[] = [];
      for (let at = 0; at < records.length;) {
        const size = records.readUInt32BE(at + RecordField.TOTAL_SIZE);
        const bodyLength = records.readUInt32BE(at + RecordField.BODY_LENGTH);
        const body = records.subarray(at + RecordField.BODY, at + RecordField.BODY + bodyLength);
        due.push({ id: readMessageId(records, at + RecordField.MSG_ID), queueOffset: readU64(records, at + RecordField.QUEUE_OFFSET), checkpoint: parseCheckpoint(body) });
        at += size;
      }
      // revive() throws only transient failures: stop the offset at the first one and remember those after it done.
      const outcomes = await Promise.allSettled(due.map((entry) => this.revive(entry)));
      const failedAt = outcomes.findIndex((outcome) => outcome.status === 'rejected');
      this.offset = failedAt < 0 ? result.nextOffset : due[failedAt]!.queueOffset;
      outcomes.forEach((outcome, i) => {
        if (i > failedAt && failedAt >= 0 && outcome.status === 'fulfilled') this.revivedAhead.set(due[i]!.queueOffset, due[i]!.id);
      });
      for (const queueOffset of this.revivedAhead.keys()) if (queueOffset < this.offset) this.revivedAhead.delete(queueOffset);
      await this.saver.request();
      if (failedAt >= 0) throw (outcomes[failedAt] as PromiseRejectedResult).reason;
    }
  }

  /** Redelivers one checkpoint; throws only transient failures (the checkpoint is then retried, not lost). */
  private async revive({ id, queueOffset, checkpoint }: DueCheckpoint): Promise<void> {
    const timers = delayOf(this.context).timers;
    if (!checkpoint) {
      this.counters.missing++;
      this.logger.error({ checkpointId: id, reviveOffset: queueOffset }, 'a %POP_REVIVE% record is not a pop checkpoint; skipped');
      return;
    }
    if (timers.isCancelled(id) || this.revivedAhead.get(queueOffset) === id) {
      this.counters.skipped++;
      return;
    }
    try {
      const outcome = await this.sendBack(checkpoint, 0);
      if (outcome === 'DLQ') this.counters.deadLettered++;
      else this.counters.retried++;
    } catch (error) {
      if (isTransient(error)) throw error;
      await this.giveUp(id, checkpoint, error);
    }
    timers.cancel(id, Date.now() + REVIVED_TOMBSTONE_MS);
  }

  private async sendBack(checkpoint: PopCheckpoint, delayLevel: number): Promise<'RETRY' | 'DLQ'> {
    const outcome = await retryOf(this.context).sendBack({
      group: checkpoint.group, commitLogOffset: checkpoint.commitLogOffset, msgId: checkpoint.msgId, maxReconsumeTimes: checkpoint.maxReconsumeTimes, delayLevel,
      failureReason: `not acknowledged within its invisible time (${checkpoint.invisibleMs} ms)`, deliverAt: Date.now(), bypassGroupLimit: true,
    });
    return outcome.outcome === 'DLQ' ? 'DLQ' : 'RETRY';
  }

  /** A checkpoint that cannot be redelivered: dead-lettered if that works, else logged and dropped. */
  private async giveUp(id: string, checkpoint: PopCheckpoint, error: unknown): Promise<void> {
    const details = { checkpointId: id, ...checkpoint, err: error };
    if (error instanceof RemoteError && error.code === BrokerErrorCode.MESSAGE_NOT_FOUND) {
      this.counters.missing++;
      this.logger.error(details, 'an expired pop is no longer in the log (retention?); not redelivered');
      return;
    }
    try {
      await this.sendBack(checkpoint, -1);
      this.counters.deadLettered++;
      this.logger.error(details, 'an expired pop cannot be redelivered to its retry topic; dead-lettered');
    } catch (dlqError) {
      if (isTransient(dlqError)) throw dlqError;
      this.counters.failed++;
      this.logger.error({ ...details, dlqErr: dlqError }, 'an expired pop can be neither redelivered nor dead-lettered; dropped');
    }
  }

  /** Stops processing (a run in progress finishes its batch) and saves the offset. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.running;
    if (this.offset >= 0) await this.saver.request();
  }
}
