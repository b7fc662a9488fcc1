import type { Logger } from 'pino';
import { DelayError, DelayErrorCode } from './errors.js';

export interface TimerStoreOptions {
  /** Tick of the wheel, in ms: timers are grouped per tick on disk but each fires at its own time. Default 100. */
  precisionMs?: number;
  /** Time covered by one turn of the wheel (slots = wheelSpanMs / precisionMs); later timers roll forward. Default 1 day. */
  wheelSpanMs?: number;
  /** Longest accepted delay from now. Default 365 days. */
  maxDelayMs?: number;
  /** Timers due within this window are loaded into memory ahead of their time. Default 1 000. */
  loadAheadMs?: number;
  /** How often the wheel and the read position are checkpointed. Default 1 000. */
  checkpointIntervalMs?: number;
  /** Most timers handed to the handler in one call. Default 2 048. */
  maxBatch?: number;
  /** Delay before a batch whose handler failed is retried. Default 500. */
  retryDelayMs?: number;
  /**
   * Size of one timer log segment file, a multiple of the 56-byte entry. Segments wholly behind the persisted
   * read position are deleted. Default 67,108,832 (1,198,372 entries, ~64 MiB).
   */
  logSegmentBytes?: number;
  /** Wheel slots scanned per checkpoint when looking for reclaimable log segments. Default 131,072. */
  reclaimScanSlots?: number;
  logger?: Logger;
}

export type ResolvedTimerStoreOptions = Required<Omit<TimerStoreOptions, 'logger'>> & { logger: Logger | undefined };

const DAY = 86_400_000;

export const DEFAULT_TIMER_OPTIONS = {
  precisionMs: 100,
  wheelSpanMs: DAY,
  maxDelayMs: 365 * DAY,
  loadAheadMs: 1_000,
  checkpointIntervalMs: 1_000,
  maxBatch: 2_048,
  retryDelayMs: 500,
  logSegmentBytes: Math.floor((64 * 1024 * 1024) / 56) * 56,
  reclaimScanSlots: 131_072,
};

function fail(message: string): never {
  throw new DelayError(DelayErrorCode.INVALID_OPTIONS, message);
}

function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

export function resolveTimerOptions(options: TimerStoreOptions = {}): ResolvedTimerStoreOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved = { ...DEFAULT_TIMER_OPTIONS, logger: undefined, ...defined } as ResolvedTimerStoreOptions;
  for (const key of Object.keys(resolved)) if (!(key in DEFAULT_TIMER_OPTIONS) && key !== 'logger') fail(`unknown timer option ${JSON.stringify(key)}`);
  integer('precisionMs', resolved.precisionMs, 1, 60_000);
  integer('wheelSpanMs', resolved.wheelSpanMs, resolved.precisionMs * 8, 30 * DAY);
  if (resolved.wheelSpanMs / resolved.precisionMs > 50_000_000) fail('wheelSpanMs / precisionMs must be at most 50,000,000 slots');
  integer('maxDelayMs', resolved.maxDelayMs, 0, 10 * 365 * DAY);
  if (options.loadAheadMs === undefined) resolved.loadAheadMs = Math.max(resolved.precisionMs, Math.min(1_000, Math.floor(resolved.wheelSpanMs / 4)));
  integer('loadAheadMs', resolved.loadAheadMs, resolved.precisionMs, Math.floor(resolved.wheelSpanMs / 4));
  integer('checkpointIntervalMs', resolved.checkpointIntervalMs, 10);
  integer('maxBatch', resolved.maxBatch, 1);
  integer('retryDelayMs', resolved.retryDelayMs, 1);
  integer('logSegmentBytes', resolved.logSegmentBytes, 56 * 16, 56 * 2 ** 30);
  if (resolved.logSegmentBytes % 56 !== 0) fail(`logSegmentBytes must be a multiple of the 56-byte timer entry, got ${resolved.logSegmentBytes}`);
  integer('reclaimScanSlots', resolved.reclaimScanSlots, 1);
  return resolved;
}
