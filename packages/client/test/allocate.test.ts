import { describe, expect, it } from 'vitest';
import { allocateAveragely } from '../src/allocate.js';
import type { MessageQueue } from '../src/message-queue.js';
import { queueKey } from '../src/message-queue.js';

function queues(brokers: Record<string, number>, topic = 't'): MessageQueue[] {
  const out: MessageQueue[] = [];
  for (const [brokerName, n] of Object.entries(brokers)) for (let queueId = 0; queueId < n; queueId++) out.push({ topic, brokerName, queueId });
  return out;
}

const keys = (list: MessageQueue[]) => list.map((q) => `${q.brokerName}:${q.queueId}`);

function assignment(all: MessageQueue[], clients: string[]): Map<string, string[]> {
  return new Map(clients.map((c) => [c, keys(allocateAveragely(all, clients, c))]));
}

describe('allocateAveragely', () => {
  it('gives contiguous blocks in (brokerName, queueId) order, the first clients one extra', () => {
    const all = queues({ 'broker-b': 4, 'broker-a': 4 }).reverse(); // input order must not matter
    const result = assignment(all, ['c3', 'c1', 'c2']);
    expect(result.get('c1')).toEqual(['broker-a:0', 'broker-a:1', 'broker-a:2']);
    expect(result.get('c2')).toEqual(['broker-a:3', 'broker-b:0', 'broker-b:1']);
    expect(result.get('c3')).toEqual(['broker-b:2', 'broker-b:3']);
  });

  it('covers every queue exactly once for any group size, and every client computes the same split', () => {
    const all = queues({ a: 8, b: 5 });
    for (let n = 1; n <= 20; n++) {
      const clients = Array.from({ length: n }, (_, i) => `client-${i}`);
      const taken = [...assignment(all, clients).values()].flat();
      expect(taken.sort()).toEqual(keys(all).sort());
      const sizes = clients.map((c) => allocateAveragely(all, clients, c).length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('leaves extra clients idle when there are more clients than queues', () => {
    const all = queues({ a: 2 });
    const result = assignment(all, ['x', 'y', 'z']);
    expect(result.get('x')).toEqual(['a:0']);
    expect(result.get('y')).toEqual(['a:1']);
    expect(result.get('z')).toEqual([]);
  });

  it('rebalances on join and leave', () => {
    const all = queues({ a: 8 });
    expect(keys(allocateAveragely(all, ['c1'], 'c1'))).toHaveLength(8);
    // c2 joins: c1 keeps the first half, c2 takes the second.
    const joined = assignment(all, ['c1', 'c2']);
    expect(joined.get('c1')).toEqual(['a:0', 'a:1', 'a:2', 'a:3']);
    expect(joined.get('c2')).toEqual(['a:4', 'a:5', 'a:6', 'a:7']);
    // c0 joins (sorts first): everyone shifts.
    const three = assignment(all, ['c1', 'c2', 'c0']);
    expect(three.get('c0')).toEqual(['a:0', 'a:1', 'a:2']);
    expect(three.get('c1')).toEqual(['a:3', 'a:4', 'a:5']);
    expect(three.get('c2')).toEqual(['a:6', 'a:7']);
    // c1 leaves.
    const left = assignment(all, ['c0', 'c2']);
    expect(left.get('c0')).toEqual(['a:0', 'a:1', 'a:2', 'a:3']);
    expect(left.get('c2')).toEqual(['a:4', 'a:5', 'a:6', 'a:7']);
  });

  it('returns nothing for a client that is not a member, and ignores duplicate ids', () => {
    const all = queues({ a: 4 });
    expect(allocateAveragely(all, ['c1', 'c2'], 'c3')).toEqual([]);
    expect(allocateAveragely(all, ['c1', 'c1'], 'c1').map(queueKey)).toHaveLength(4);
    expect(allocateAveragely([], ['c1'], 'c1')).toEqual([]);
  });
});
