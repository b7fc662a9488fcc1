import type { Logger } from 'pino';
import type { RecordSections } from '@litemq/protocol';
import { KEY_SEPARATOR, RECORD_HEADER_BYTES, RecordField, readU64, tagHashOfBytes } from '@litemq/protocol';
import type { Checkpoint } from './checkpoint.js';
import { queueKey } from './checkpoint.js';
import type { CommitLog } from './commit-log.js';
import { scanCommitLog } from './commit-log-scanner.js';
import type { ConsumeQueue } from './consume-queue.js';
import type { IndexService } from './index-service.js';
import { keyHashAt, messageIdHashAt } from './index-keys.js';
import type { QueueRegistry } from './queue-registry.js';

export interface RecoveryReport {
  /** The store was not closed cleanly last time (abort marker found). */
  unclean: boolean;
  /** Where the log scan started: the last checkpoint, not the start of the log. */
  scannedFrom: number;
  scannedBytes: number;
  logEnd: number;
  /** Bytes of torn tail cut off the log. */
  truncatedBytes: number;
  /** Records whose CRC failed: skipped, never served. */
  corruptRecords: number;
  /** Queues rebuilt from the log because they were missing, stale or inconsistent. */
  rebuiltQueues: string[];
  durationMs: number;
}

const KEY_SEPARATOR_BYTE = KEY_SEPARATOR.charCodeAt(0);

/** True when the queue's last entry points at a record that really is that entry. */
async function lastEntryConsistent(log: CommitLog, queue: ConsumeQueue): Promise<boolean> {
  const last = await queue.lastEntry();
  if (!last) return true;
  const header = await log.read(last.commitLogOffset, RECORD_HEADER_BYTES);
  if (header.length < RECORD_HEADER_BYTES) return false;
  return (
    header.readUInt32BE(RecordField.TOTAL_SIZE) === last.size &&
    readU64(header, RecordField.COMMIT_LOG_OFFSET) === last.commitLogOffset &&
    readU64(header, RecordField.QUEUE_OFFSET) === last.offset &&
    header.readUInt32BE(RecordField.QUEUE_ID) === queue.queueId
  );
}

function indexRecord(index: IndexService, buf: Buffer, at: number, offset: number, sections: RecordSections): void {
  const storeTimestamp = readU64(buf, at + RecordField.STORE_TIMESTAMP);
  index.add(messageIdHashAt(buf, at + RecordField.MSG_ID), offset, storeTimestamp);
  const topicEnd = sections.topicStart + sections.topicLength;
  const keysEnd = sections.keysStart + sections.keysLength;
  let keyStart = sections.keysStart;
  for (let i = sections.keysStart; i <= keysEnd; i++) {
    if (i === keysEnd || buf[i] === KEY_SEPARATOR_BYTE) {
      if (i > keyStart) index.add(keyHashAt(buf, sections.topicStart, topicEnd, keyStart, i), offset, storeTimestamp);
      keyStart = i + 1;
    }
  }
}

/**
 * Brings the log, queues and index back to a consistent state after any stop: scans the log from the
 * checkpoint verifying every record, cuts a torn tail, cuts queue and index entries beyond the log
 * end, rebuilds queues that are missing or stale, and re-dispatches what came after the checkpoint.
 */
export async function recoverStore(
  log: CommitLog,
  queues: QueueRegistry,
  index: IndexService,
  checkpoint: Checkpoint | undefined,
  unclean: boolean,
  logger: Logger,
): Promise<RecoveryReport> {
  const started = performance.now();
  const logMin = log.minOffset;
  const clip = (offset: number) => Math.min(Math.max(offset, logMin), log.maxOffset);
  const scanFrom = checkpoint ? clip(Math.min(checkpoint.commitLogFlushedOffset, checkpoint.dispatchedOffset)) : logMin;
  const filesEnd = log.maxOffset;

  const corruptOffsets = new Set<number>();
  const scan = await scanCommitLog(log, scanFrom, {
    record: () => undefined,
    corrupt: (offset, size, reason) => {
      corruptOffsets.add(offset);
      logger.error({ offset, size, reason }, 'corrupt record in commit log: skipped');
    },
  });
  if (scan.end < filesEnd) {
    if (checkpoint && scan.end < checkpoint.commitLogFlushedOffset) {
      logger.error({ at: scan.end, flushed: checkpoint.commitLogFlushedOffset }, 'unreadable bytes inside the flushed log: truncating there');
    }
    logger.warn({ at: scan.end, bytes: filesEnd - scan.end }, 'truncating torn commit-log tail');
    await log.truncate(scan.end);
  }
  const logEnd = log.maxOffset;
  await index.truncateFrom(logEnd);

  const rebuild = new Set<ConsumeQueue>();
  /**
   * Offsets below this were handed out before the stop (the checkpoint or the queue's own entries say
   * so): the queue must not give them out again, even if their records are now cut off or corrupt.
   */
  const floors = new Map<ConsumeQueue, number>();
  const known = new Set(queues.all());
  for (const key of Object.keys(checkpoint?.queues ?? {})) {
    // A queue the checkpoint knows whose directory is gone: recreate it and rebuild it from the log.
    const slash = key.lastIndexOf('/');
    const queue = queues.getOrCreate(key.slice(0, slash), Number(key.slice(slash + 1)));
    if (!known.has(queue)) rebuild.add(queue);
  }
  for (const queue of queues.all()) {
    const handedOut = queue.maxOffset;
    for (let last = await queue.lastEntry(); last && last.commitLogOffset + last.size > logEnd; last = await queue.lastEntry()) {
      await queue.truncateTo(last.offset);
    }
    const expected = checkpoint?.queues[queueKey(queue.topic, queue.queueId)] ?? 0;
    floors.set(queue, Math.max(expected, handedOut));
    if (queue.maxOffset < expected || !(await lastEntryConsistent(log, queue))) rebuild.add(queue);
  }
  const indexBehind = index.maxIndexedOffset < 0 && scanFrom > logMin;
  const dispatchFrom = rebuild.size > 0 || indexBehind ? logMin : scanFrom;
  for (const queue of rebuild) await queue.truncateTo(0);

  const behind = new Set<ConsumeQueue>();
  const dispatchPass = async (from: number, only: Set<ConsumeQueue> | undefined): Promise<void> => {
    const seen = new Set<ConsumeQueue>();
    const indexedUpTo = index.maxIndexedOffset;
    await scanCommitLog(log, from, {
      record: (buf, at, offset, sections) => {
        if (corruptOffsets.has(offset)) return; // found by the first pass, which checked the CRCs from scanFrom on
        if (!only && offset >= indexedUpTo) indexRecord(index, buf, at, offset, sections);
        const topic = buf.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength);
        const queue = queues.getOrCreate(topic, buf.readUInt32BE(at + RecordField.QUEUE_ID));
        if ((only && !only.has(queue)) || behind.has(queue) === !only) return;
        const queueOffset = readU64(buf, at + RecordField.QUEUE_OFFSET);
        if (queueOffset < queue.nextOffset) return;
        if (queueOffset > queue.nextOffset && !seen.has(queue)) {
          const empty = queue.nextOffset === 0 || queue.nextOffset === queue.minOffset;
          if (from === logMin && empty) queue.startAt(queueOffset);
          else {
            behind.add(queue); // the queue lacks entries from before this pass: rebuild it from the start
            return;
          }
        }
        seen.add(queue);
        queue.put(queueOffset, offset, sections.totalSize, tagHashOfBytes(buf, sections.tagsStart, sections.tagsStart + sections.tagsLength));
      },
    }, scanFrom);
  };
  await dispatchPass(dispatchFrom, undefined);
  if (behind.size > 0) {
    for (const queue of behind) {
      await queue.truncateTo(0);
      rebuild.add(queue);
    }
    await dispatchPass(logMin, new Set(behind));
  }
  // A record that was dispatched but is now unreadable (corrupt) leaves a hole, not a reusable offset.
  for (const [queue, floor] of floors) queue.skipTo(floor);
  for (const queue of queues.all()) await queue.drain();
  // Retention deleted the log below logMin: queues must not start before it again after a restart.
  if (logMin > 0) for (const queue of queues.all()) await queue.deleteBelow(logMin);

  const report: RecoveryReport = {
    unclean,
    scannedFrom: scanFrom,
    scannedBytes: filesEnd - scanFrom,
    logEnd,
    truncatedBytes: filesEnd - logEnd,
    corruptRecords: scan.corrupt,
    rebuiltQueues: [...rebuild].map((queue) => queueKey(queue.topic, queue.queueId)),
    durationMs: Math.round(performance.now() - started),
  };
  logger.info(report, 'store recovered');
  return report;
}
