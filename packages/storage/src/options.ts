import type { Logger } from 'pino';
import { StorageError, StorageErrorCode } from './errors.js';

export type FlushMode = 'async' | 'sync';

/** Free and total bytes of the volume holding the store; injectable so operators can plug their own probe. */
export type DiskUsageProbe = (dir: string) => Promise<{ totalBytes: number; freeBytes: number }>;

export interface MessageStoreOptions {
  /** Capacity of one commit-log segment file. Default 1 GiB. */
  segmentBytes?: number;
  /** `async`: acknowledge once written to the OS, fdatasync every flushIntervalMs. `sync`: group commit. */
  flushMode?: FlushMode;
  flushIntervalMs?: number;
  /** In sync mode, how long an append waits for fdatasync before it resolves with FLUSH_TIMEOUT. */
  syncFlushTimeoutMs?: number;
  /** How often the checkpoint (what is known flushed and dispatched) is written. */
  checkpointIntervalMs?: number;
  /** ConsumeQueue entries per consume-queue segment file (20 bytes each). */
  consumeQueueEntriesPerSegment?: number;
  /** Delete commit-log segments older than this. Default 72. */
  retentionHours?: number;
  /** Disk usage above which the oldest segments are deleted even before they expire. Default 0.85. */
  diskCleanRatio?: number;
  /** Disk usage above which writes are refused with DISK_FULL. Default 0.90. */
  diskRefuseRatio?: number;
  /** How often retention and disk usage are checked. */
  cleanIntervalMs?: number;
  diskUsageProbe?: DiskUsageProbe;
  /** Largest accepted body. Default 4 MiB. */
  maxBodyBytes?: number;
  /** `address:port` patched into every record as its store host. */
  storeHost?: string;
  /** Verify record CRCs on reads so corrupt bytes are never served. Default true. */
  verifyOnRead?: boolean;
  /**
   * With verifyOnRead, skip the check for records this process appended since the store was opened (they
   * were validated and checksummed on the way in; the check still covers everything that was on disk at
   * open). Default true; false checks every read.
   */
  trustOwnWrites?: boolean;
  indexSlotCount?: number;
  indexMaxEntriesPerFile?: number;
  logger?: Logger;
}

export type ResolvedStoreOptions = Required<Omit<MessageStoreOptions, 'storeHost' | 'logger' | 'diskUsageProbe'>> &
  Pick<MessageStoreOptions, 'storeHost' | 'logger' | 'diskUsageProbe'>;

export const DEFAULT_STORE_OPTIONS: Omit<ResolvedStoreOptions, 'storeHost' | 'logger' | 'diskUsageProbe'> = {
  segmentBytes: 1024 * 1024 * 1024,
  flushMode: 'async',
  flushIntervalMs: 500,
  // Below the clients' default send timeout (3 s), so a slow disk answers FLUSH_TIMEOUT (stored, not retried)
  // before a client times out and resends a stored message elsewhere.
  syncFlushTimeoutMs: 2000,
  checkpointIntervalMs: 1000,
  consumeQueueEntriesPerSegment: 300_000,
  retentionHours: 72,
  diskCleanRatio: 0.85,
  diskRefuseRatio: 0.9,
  cleanIntervalMs: 10_000,
  maxBodyBytes: 4 * 1024 * 1024,
  verifyOnRead: true,
  trustOwnWrites: true,
  indexSlotCount: 500_000,
  indexMaxEntriesPerFile: 2_000_000,
};

function fail(message: string): never {
  throw new StorageError(StorageErrorCode.INVALID_OPTIONS, message);
}

function positiveInteger(name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, got ${value}`);
}

function ratio(name: string, value: number): void {
  if (!(value > 0 && value <= 1)) fail(`${name} must be in (0, 1], got ${value}`);
}

/** Fills defaults and rejects nonsensical values with INVALID_OPTIONS naming the option. */
export function resolveStoreOptions(options: MessageStoreOptions = {}): ResolvedStoreOptions {
  const resolved: ResolvedStoreOptions = { ...DEFAULT_STORE_OPTIONS };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_STORE_OPTIONS) && !['storeHost', 'logger', 'diskUsageProbe'].includes(key)) {
      fail(`unknown option ${JSON.stringify(key)}`);
    }
    (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  positiveInteger('segmentBytes', resolved.segmentBytes, 64 * 1024);
  if (resolved.flushMode !== 'async' && resolved.flushMode !== 'sync') fail(`flushMode must be "async" or "sync", got ${String(resolved.flushMode)}`);
  positiveInteger('flushIntervalMs', resolved.flushIntervalMs);
  positiveInteger('syncFlushTimeoutMs', resolved.syncFlushTimeoutMs);
  positiveInteger('checkpointIntervalMs', resolved.checkpointIntervalMs);
  positiveInteger('consumeQueueEntriesPerSegment', resolved.consumeQueueEntriesPerSegment, 16);
  if (!(resolved.retentionHours > 0)) fail(`retentionHours must be > 0, got ${resolved.retentionHours}`);
  ratio('diskCleanRatio', resolved.diskCleanRatio);
  ratio('diskRefuseRatio', resolved.diskRefuseRatio);
  if (resolved.diskCleanRatio > resolved.diskRefuseRatio) fail('diskCleanRatio must not exceed diskRefuseRatio');
  positiveInteger('cleanIntervalMs', resolved.cleanIntervalMs);
  positiveInteger('maxBodyBytes', resolved.maxBodyBytes);
  if (resolved.maxBodyBytes + 64 * 1024 > resolved.segmentBytes) fail('segmentBytes must exceed maxBodyBytes + 64 KiB so any record fits a segment');
  positiveInteger('indexSlotCount', resolved.indexSlotCount, 16);
  positiveInteger('indexMaxEntriesPerFile', resolved.indexMaxEntriesPerFile, 16);
  return resolved;
}
