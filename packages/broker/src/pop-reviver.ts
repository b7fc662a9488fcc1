import { join } from 'node:path';
import type { Logger } from 'pino';
import { RemoteError, readMessageId, RecordField } from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';
import { delayOf } from './delay-service.js';
import { SerialSaver, readJsonFile, writeJsonAtomic } from './json-file.js';
import type { PopCheckpoint } from './pop-checkpoint.js';
import { POP_REVIVE_TOPIC, parseCheckpoint } from './pop-checkpoint.js';
import { retryOf } from './retry-service.js';

const READ_BATCH = 64;
const RETRY_AFTER_FAILURE_MS = 1_000;

/**
 * Redelivers popped messages nobody acknowledged in time. A checkpoint whose invisible time ended is delivered by
 * the timer to `%POP_REVIVE%`; this reads that queue from a persisted offset and, for each checkpoint neither
 * acknowledged nor superseded (both cancel its timer), hands the popped message to the retry service: stored at
 * once on `%RETRY%<group>` with reconsumeTimes + 1 (the invisible time was the backoff), or in `%DLQ%<group>` past
 * maxReconsumeTimes. A revived checkpoint is then cancelled too, so a checkpoint delivered twice (the timer is
 * at-least-once across a crash) or read twice (offset saved after the batch) is redelivered once.
 */
export class PopReviver {
  /** Counters for status and tests. */
  readonly counters = { retried: 0, deadLettered: 0, skipped: 0, missing: 0 };
  private offset = -1;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly saver: SerialSaver;
  private readonly logger: Logger;

  private constructor(private readonly context: BrokerContext, private readonly path: string) {
    this.saver = new SerialSaver(() => writeJsonAtomic(this.path, { offset: this.offset }));
    this.logger = context.logger.child({ component: 'pop-revive' });
  }

  static async open(context: BrokerContext): Promise<PopReviver> {
    const reviver = new PopReviver(context, join(context.options.dataDir, 'config', 'pop-revive.json'));
    const file = (await readJsonFile(reviver.path)) as { offset?: unknown } | undefined;
    if (file && typeof file === 'object' && Number.isSafeInteger(file.offset)) reviver.offset = file.offset as number;
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
      } catch (error) {
        if (this.closed) return;
        this.logger.error({ err: error }, 'redelivering expired pops failed; retrying');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.trigger(), RETRY_AFTER_FAILURE_MS);
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
      const due: Array<{ id: string; checkpoint: PopCheckpoint | undefined }> = [];
      for (let at = 0; at < result.records.length;) {
        const size = result.records.readUInt32BE(at + RecordField.TOTAL_SIZE);
        const bodyLength = result.records.readUInt32BE(at + RecordField.BODY_LENGTH);
        const body = result.records.subarray(at + RecordField.BODY, at + RecordField.BODY + bodyLength);
        due.push({ id: readMessageId(result.records, at + RecordField.MSG_ID), checkpoint: parseCheckpoint(body) });
        at += size;
      }
      const outcomes = await Promise.allSettled(due.map(({ id, checkpoint }) => this.revive(id, checkpoint)));
      const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      this.offset = result.nextOffset;
      await this.saver.request();
    }
  }

  private async revive(id: string, checkpoint: PopCheckpoint | undefined): Promise<void> {
    const timers = delayOf(this.context).timers;
    if (!checkpoint) {
      this.counters.missing++;
      this.logger.error({ checkpointId: id }, 'a %POP_REVIVE% record is not a pop checkpoint; skipped');
      return;
    }
    if (timers.isCancelled(id)) {
      this.counters.skipped++;
      return;
    }
    try {
      const outcome = await retryOf(this.context).sendBack({
        group: checkpoint.group, commitLogOffset: checkpoint.commitLogOffset, msgId: checkpoint.msgId, maxReconsumeTimes: checkpoint.maxReconsumeTimes, delayLevel: 0,
        failureReason: `not acknowledged within its invisible time (${checkpoint.invisibleMs} ms)`, deliverAt: Date.now(),
      });
      if (outcome.outcome === 'DLQ') this.counters.deadLettered++;
      else this.counters.retried++;
    } catch (error) {
      if (!(error instanceof RemoteError) || error.code !== 'MESSAGE_NOT_FOUND') throw error;
      this.counters.missing++;
      this.logger.error({ group: checkpoint.group, msgId: checkpoint.msgId, commitLogOffset: checkpoint.commitLogOffset }, 'an expired pop is no longer in the log (retention?); not redelivered');
    }
    timers.cancel(id, Date.now());
  }

  /** Stops processing (a run in progress finishes its batch) and saves the offset. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.running;
    if (this.offset >= 0) await this.saver.request();
  }
}
