/** Retry backoff levels and limits (RocketMQ's delay levels 3..18 by default). */

export const DEFAULT_RETRY_LEVELS = '10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h';
export const DEFAULT_MAX_RECONSUME_TIMES = 16;
/** Longest failure reason kept on a message. */
export const MAX_FAILURE_REASON_CHARS = 512;
/** Failures kept in `$failureHistory` (most recent). */
export const MAX_FAILURE_HISTORY = 20;
const HISTORY_REASON_CHARS = 160;

export interface RetryOptions {
  /** Backoff per retry: durations (`500ms`, `10s`, `1m`, `2h`) as a space-separated string or a list, or ms numbers. */
  levels?: string | ReadonlyArray<string | number>;
  /** Retries before the dead-letter queue when neither the consumer nor the message says. Default 16. */
  maxReconsumeTimes?: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `10s`, `1m`, `2h`, `1d` or a plain number of ms. Throws on anything else. */
export function parseDurationMs(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new Error(`a retry level must be a non-negative integer of ms, got ${value}`);
    return value;
  }
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new Error(`${JSON.stringify(value)} is not a duration such as 500ms, 10s, 1m or 2h`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

/** The levels as ms; throws naming the bad entry. */
export function parseRetryLevels(levels: RetryOptions['levels']): number[] {
  const list = levels === undefined ? DEFAULT_RETRY_LEVELS.split(/\s+/) : typeof levels === 'string' ? levels.trim().split(/[\s,]+/) : [...levels];
  if (list.length === 0 || (list.length === 1 && list[0] === '')) throw new Error('retry levels must not be empty');
  return list.map((level) => parseDurationMs(level));
}

/** Backoff before retry number `reconsumeTimes + 1` (the last level repeats). An explicit 1-based level wins. */
export function backoffMs(levels: readonly number[], reconsumeTimes: number, delayLevel = 0): number {
  const index = delayLevel > 0 ? delayLevel - 1 : reconsumeTimes;
  return levels[Math.min(Math.max(0, index), levels.length - 1)]!;
}

/** Parses `$failureHistory`; anything malformed reads as no history. */
export function parseFailureHistory(value: string | undefined): Array<[number, string]> {
  if (!value) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((entry): entry is [number, string] => Array.isArray(entry) && typeof entry[0] === 'number' && typeof entry[1] === 'string');
  } catch {
    return [];
  }
}

/** Appends one failure to a history, keeping the most recent MAX_FAILURE_HISTORY. */
export function appendFailure(value: string | undefined, at: number, reason: string): string {
  const history = parseFailureHistory(value);
  history.push([at, reason.slice(0, HISTORY_REASON_CHARS)]);
  return JSON.stringify(history.slice(-MAX_FAILURE_HISTORY));
}
