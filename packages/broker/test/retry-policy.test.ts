import { describe, expect, it } from 'vitest';
import { appendFailure, backoffMs, parseDurationMs, parseFailureHistory, parseRetryLevels } from '../src/retry-policy.js';
import { resolveBrokerOptions } from '../src/options.js';

describe('retry policy', () => {
  it('parses the default RocketMQ levels and custom ones', () => {
    const levels = parseRetryLevels(undefined);
    expect(levels).toHaveLength(16);
    expect(levels.slice(0, 3)).toEqual([10_000, 30_000, 60_000]);
    expect(levels.at(-1)).toBe(7_200_000);
    expect(parseRetryLevels('250ms 1s, 1.5m')).toEqual([250, 1000, 90_000]);
    expect(parseRetryLevels([100, '2s'])).toEqual([100, 2000]);
    expect(parseDurationMs('1d')).toBe(86_400_000);
    expect(() => parseRetryLevels('10x')).toThrow(/not a duration/);
    expect(() => parseRetryLevels('')).toThrow(/must not be empty/);
  });

  it('picks the level of the retry number, repeating the last, and honours an explicit level', () => {
    const levels = [1000, 2000, 3000];
    expect(backoffMs(levels, 0)).toBe(1000);
    expect(backoffMs(levels, 2)).toBe(3000);
    expect(backoffMs(levels, 9)).toBe(3000);
    expect(backoffMs(levels, 0, 2)).toBe(2000);
  });

  it('keeps a bounded failure history and tolerates garbage', () => {
    let history: string | undefined;
    for (let i = 0; i < 25; i++) history = appendFailure(history, i, `e${i} ${'x'.repeat(500)}`);
    const parsed = parseFailureHistory(history);
    expect(parsed).toHaveLength(20);
    expect(parsed[0]![0]).toBe(5);
    expect(parsed[19]![1].length).toBeLessThanOrEqual(160);
    expect(parseFailureHistory('{nope')).toEqual([]);
  });

  it('validates broker retry options', () => {
    expect(() => resolveBrokerOptions({ brokerName: 'b', dataDir: '/tmp/x', retry: { levels: 'soon' } })).toThrow(/retry.levels/);
    expect(() => resolveBrokerOptions({ brokerName: 'b', dataDir: '/tmp/x', retry: { maxReconsumeTimes: -1 } })).toThrow(/retry.maxReconsumeTimes/);
    expect(resolveBrokerOptions({ brokerName: 'b', dataDir: '/tmp/x', retry: { levels: '1s 2s' } }).retry.levels).toBe('1s 2s');
  });
});
