import { TopicPerm } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { QueueSelector, shardingHash } from '../src/queue-selector.js';
import { buildTopicRoute } from '../src/route-cache.js';

function route(queueNums: Record<string, number>, perms: Record<string, number> = {}) {
  const names = Object.keys(queueNums);
  return buildTopicRoute(
    {
      topic: 't',
      brokers: names.map((brokerName) => ({ clusterName: 'c', brokerName, addrs: { '0': `${brokerName}:1` } })),
      queues: names.map((brokerName) => ({ brokerName, readQueueNums: queueNums[brokerName]!, writeQueueNums: queueNums[brokerName]!, perm: perms[brokerName] ?? TopicPerm.READ_WRITE })),
    },
    1,
  );
}

describe('queue selection', () => {
  it('round-robins over the writable queues of every broker', () => {
    const selector = new QueueSelector();
    const r = route({ b: 2, a: 2 });
    const picks = Array.from({ length: 8 }, () => selector.select(r)!).map((q) => `${q.brokerName}:${q.queueId}`);
    // A cycle of 4 visits each queue once, in (brokerName, queueId) order from a random start.
    expect(new Set(picks.slice(0, 4))).toEqual(new Set(['a:0', 'a:1', 'b:0', 'b:1']));
    expect(picks.slice(4)).toEqual(picks.slice(0, 4));
  });

  it('skips read-only brokers and brokers without a master', () => {
    const r = route({ a: 2, b: 2 }, { b: TopicPerm.READ });
    const selector = new QueueSelector();
    for (let i = 0; i < 10; i++) expect(selector.select(r)!.brokerName).toBe('a');
    expect(r.readQueues).toHaveLength(4);
    const noMaster = buildTopicRoute({ topic: 't', brokers: [{ clusterName: 'c', brokerName: 'a', addrs: { '1': 'slave:1' } }], queues: [{ brokerName: 'a', readQueueNums: 2, writeQueueNums: 2, perm: 6 }] }, 1);
    expect(new QueueSelector().select(noMaster)).toBeUndefined();
  });

  it('maps a sharding key to the same queue while the route is unchanged', () => {
    const r = route({ a: 4, b: 4 });
    const s1 = new QueueSelector();
    const s2 = new QueueSelector();
    for (const key of ['order-1', 'order-2', 'user:42', 'ü-key']) {
      const first = s1.select(r, key)!;
      for (let i = 0; i < 5; i++) expect(s1.select(r, key)).toEqual(first);
      expect(s2.select(r, key)).toEqual(first); // another process computes the same queue
      expect(first).toEqual(r.writeQueues[shardingHash(key) % 8]);
    }
    // Keys spread over the queues.
    const used = new Set(Array.from({ length: 200 }, (_, i) => s1.select(r, `k${i}`)!.queueId + s1.select(r, `k${i}`)!.brokerName));
    expect(used.size).toBe(8);
  });

  it('avoids a given broker when another one has writable queues', () => {
    const r = route({ a: 2, b: 2 });
    const selector = new QueueSelector();
    for (let i = 0; i < 10; i++) expect(selector.select(r, undefined, 'a')!.brokerName).toBe('b');
    const single = route({ a: 2 });
    expect(selector.select(single, undefined, 'a')!.brokerName).toBe('a');
  });
});
