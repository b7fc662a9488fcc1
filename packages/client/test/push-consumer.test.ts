import type { ReceivedMessage } from '@litemq/protocol';
import { tagHash } from '@litemq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../src/index.js';
import type { PushConsumerOptions } from '../src/index.js';
import { startCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { brokers?: number; queueNums?: number } = {}) {
  const cluster = await startCluster({ brokers: options.brokers ?? 1, topics: ['orders'], queueNums: options.queueNums ?? 4 });
  cleanups.push(() => cluster.close());
  const producer = new Producer({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => producer.close());
  await producer.start();
  const consumer = (overrides: Partial<PushConsumerOptions> = {}) => {
    const c = new PushConsumer({ nameServers: [cluster.nameServer.address], group: 'cg', consumeFromWhere: 'FIRST_OFFSET', ...overrides });
    cleanups.push(() => c.close());
    return c;
  };
  const sendAll = (n: number, extra: (i: number) => object = () => ({})) =>
    Promise.all(Array.from({ length: n }, (_, i) => producer.send({ topic: 'orders', body: `m${i}`, ...extra(i) })));
  return { cluster, producer, consumer, sendAll };
}

describe('PushConsumer', () => {
  it('consumes every message with a handler and commits the offsets on close', async () => {
    const { cluster, consumer, sendAll } = await setup();
    await sendAll(100);
    const received: string[] = [];
    const c = consumer().subscribe('orders');
    await c.start((message) => {
      received.push(message.body.toString());
    });
    await waitFor(() => received.length === 100, 10_000, '100 messages');
    await c.close();
    expect(received.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`).sort());
    const broker = cluster.brokers[0]!;
    for (let queueId = 0; queueId < 4; queueId++) {
      expect(broker.committed.get(`cg@orders@${queueId}`)).toBe(broker.queue('orders', queueId).length);
    }
    expect(broker.members.get('cg')?.size ?? 0).toBe(0); // unregistered
  });

  it('picks up a topic created after it started within seconds, not a whole rebalance interval', async () => {
    const { cluster, producer, consumer } = await setup();
    const c = consumer({ rebalanceIntervalMs: 60_000 }).subscribe('later');
    const received: string[] = [];
    await c.start((m) => void received.push(m.body.toString()));
    expect(c.assignedQueues()).toEqual([]);
    cluster.brokers[0]!.addTopic('later', 2);
    await producer.send({ topic: 'later', body: 'first' });
    // The queues are taken one by one: the message may arrive before the second one is assigned.
    await waitFor(() => received.length === 1 && c.assignedQueues().filter((q) => q.topic === 'later').length === 2, 8_000, 'the message of the new topic');
    expect(received).toEqual(['first']);
  });

  it('delivers new messages through long polling', async () => {
    const { cluster, producer, consumer } = await setup({ queueNums: 1 });
    const c = consumer({ consumeFromWhere: 'LAST_OFFSET' }).subscribe('orders');
    const received: ReceivedMessage[] = [];
    await c.start((m) => void received.push(m));
    await waitFor(() => cluster.brokers[0]!.pulls.length > 0, 5000, 'a pull');
    expect(cluster.brokers[0]!.pulls[0]).toMatchObject({ suspendMs: 15_000, group: 'cg', topic: 'orders' });
    const sent = await producer.send({ topic: 'orders', body: 'live', keys: 'k', properties: { p: 'v' } });
    await waitFor(() => received.length === 1, 5000, 'the live message');
    expect(received[0]).toMatchObject({ msgId: sent.msgId, queueOffset: 0, keys: ['k'], properties: { p: 'v' }, reconsumeTimes: 0 });
  });

  it('commits the start position of a new group before its first pull, so a member killed before any commit leaves no gap', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 2 });
    await sendAll(6);
    // No periodic commit and nothing consumed: what the broker holds now is what a member killed now leaves behind.
    // Without it, the next owner would resolve LAST_OFFSET again and skip whatever arrived in between.
    const first = consumer({ consumeFromWhere: 'LAST_OFFSET', commitIntervalMs: 3_600_000 }).subscribe('orders');
    await first.start(() => undefined);
    await waitFor(() => first.assignedQueues().length === 2, 5000, 'assignment');
    const broker = cluster.brokers[0]!;
    expect([broker.committed.get('cg@orders@0'), broker.committed.get('cg@orders@1')]).toEqual([3, 3]);
  });

  it('starts from the last offset for a new group (LAST_OFFSET) and from the committed offset afterwards', async () => {
    const { cluster, consumer, sendAll, producer } = await setup({ queueNums: 1 });
    await sendAll(5);
    const first = consumer({ consumeFromWhere: 'LAST_OFFSET' }).subscribe('orders');
    const got: string[] = [];
    await first.start((m) => void got.push(m.body.toString()));
    await waitFor(() => first.assignedQueues().length === 1, 5000, 'assignment');
    await producer.send({ topic: 'orders', body: 'after-start' });
    await waitFor(() => got.length === 1, 5000, 'one message');
    expect(got).toEqual(['after-start']);
    await first.close();
    expect(cluster.brokers[0]!.committed.get('cg@orders@0')).toBe(6);
    await producer.send({ topic: 'orders', body: 'while-away' });
    const second = consumer({ consumeFromWhere: 'FIRST_OFFSET' }).subscribe('orders');
    const got2: string[] = [];
    await second.start((m) => void got2.push(m.body.toString()));
    await waitFor(() => got2.length === 1, 5000, 'the message sent while away');
    expect(got2).toEqual(['while-away']);
  });

  it('filters by tag on the broker (hashes) and exactly on the client', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    const tags = ['a', 'b', 'c', undefined];
    await sendAll(40, (i) => (tags[i % 4] ? { tags: tags[i % 4] } : {}));
    const received: ReceivedMessage[] = [];
    const c = consumer().subscribe('orders', 'a || c');
    await c.start((m) => void received.push(m));
    await waitFor(() => received.length === 20, 5000, '20 tagged messages');
    expect(new Set(received.map((m) => m.tags))).toEqual(new Set(['a', 'c']));
    expect(cluster.brokers[0]!.pulls[0]!.tagHashes).toEqual([tagHash('a'), tagHash('c')].sort((x, y) => x - y));
    await waitFor(() => cluster.brokers[0]!.pulls.at(-1)!.offset === 40, 5000, 'pull offset past the filtered messages');
    await c.close();
    expect(cluster.brokers[0]!.committed.get('cg@orders@0')).toBe(40);
  });

  it('filters by SQL exactly on the client and commits past the filtered-out messages', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    // The fake broker ignores `sql`: every record reaches the client, which must filter exactly.
    await sendAll(40, (i) => ({ tags: i % 2 === 0 ? 'even' : 'odd', properties: { region: i % 4 < 2 ? 'eu' : 'us', amount: String(i * 10) } }));
    const expected = Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 4 < 2 && i * 10 > 100 && i % 2 === 0).map((i) => `m${i}`);
    const received: string[] = [];
    const c = consumer().subscribe('orders', { tags: 'even || odd', sql: "region = 'eu' AND amount > 100 AND TAGS = 'even'" });
    await c.start((m) => void received.push(m.body.toString()));
    await waitFor(() => cluster.brokers[0]!.pulls.at(-1)!.offset === 40, 5000, 'pull offset past the filtered messages');
    expect(cluster.brokers[0]!.pulls[0]!.sql).toBe("region = 'eu' AND amount > 100 AND TAGS = 'even'");
    await waitFor(() => received.length === expected.length, 5000, 'the matching messages');
    await c.close();
    expect(received.sort()).toEqual(expected.sort());
    expect(cluster.brokers[0]!.committed.get('cg@orders@0')).toBe(40);
  });

  it('rejects an invalid SQL filter at subscribe time with its position', () => {
    const c = new PushConsumer({ nameServers: ['127.0.0.1:1'], group: 'cg' });
    expect(() => c.subscribe('orders', { sql: "region = 'eu' AND" })).toThrow(expect.objectContaining({ code: 'FILTER_EXPRESSION_INVALID', position: 17 }));
    expect(() => c.subscribe('orders', { sql: 'amount >> 1' })).toThrow(/position 8/);
  });

  it('redelivers a message whose handler throws and never commits past it', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    await sendAll(3);
    const attempts: Array<[string, number]> = [];
    const c = consumer({ commitIntervalMs: 50 }).subscribe('orders');
    let failOnce = true;
    await c.start((m) => {
      attempts.push([m.body.toString(), m.reconsumeTimes]);
      if (m.body.toString() === 'm0' && failOnce) {
        failOnce = false;
        throw new Error('boom');
      }
    });
    await waitFor(() => attempts.length === 3, 5000, 'first deliveries');
    // m1 and m2 are done, m0 failed: the committed offset must stay at 0 until m0 succeeds.
    await waitFor(() => cluster.brokers[0]!.commitRequests.length > 0 || cluster.brokers[0]!.pulls.length > 1, 5000, 'a commit attempt');
    expect(cluster.brokers[0]!.committed.get('cg@orders@0') ?? 0).toBe(0);
    await waitFor(() => attempts.length === 4, 5000, 'the redelivery');
    expect(attempts[3]).toEqual(['m0', 1]);
    await waitFor(() => cluster.brokers[0]!.committed.get('cg@orders@0') === 3, 5000, 'commit past the redelivered message');
  });

  it('iterates with for await, bounded by maxPrefetch, acking on the next iteration', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    await sendAll(30);
    const c = consumer({ maxPrefetch: 5 }).subscribe('orders');
    await c.start();
    const seen: string[] = [];
    for await (const message of c) {
      seen.push(message.body.toString());
      if (seen.length === 30) break;
    }
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`)); // one queue: in order
    expect(cluster.brokers[0]!.pulls.every((p) => (p.maxCount as number) <= 5)).toBe(true);
    await c.close();
    // The message the loop broke on was handed back, so it is not committed: at-least-once.
    expect(cluster.brokers[0]!.committed.get('cg@orders@0')).toBe(29);
  });

  it('jumps to nextOffset on PULL_OFFSET_MOVED', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    await sendAll(3);
    cluster.brokers[0]!.committed.set('cg@orders@0', 100); // beyond the queue's end
    const received: string[] = [];
    const c = consumer().subscribe('orders');
    await c.start((m) => void received.push(m.body.toString()));
    await waitFor(() => cluster.brokers[0]!.pulls.some((p) => p.offset === 3), 5000, 'pull from the moved offset');
    await sendAll(1);
    await waitFor(() => received.length === 1, 5000, 'the new message');
    expect(received).toEqual(['m0']);
  });

  it('divides the queues between members and rebalances when members join and leave', async () => {
    const { sendAll, consumer } = await setup({ brokers: 2, queueNums: 4 });
    const received = new Map<string, number>();
    const handler = (m: ReceivedMessage) => void received.set(m.msgId, (received.get(m.msgId) ?? 0) + 1);
    const a = consumer({ rebalanceIntervalMs: 60_000 }).subscribe('orders');
    await a.start(handler);
    await waitFor(() => a.assignedQueues().length === 8, 5000, 'a owns all 8 queues');
    const b = consumer({ rebalanceIntervalMs: 60_000 }).subscribe('orders');
    await b.start(handler);
    // b's heartbeat makes the brokers notify a; both converge on 4 queues each, without the periodic rebalance.
    await waitFor(() => a.assignedQueues().length === 4 && b.assignedQueues().length === 4, 10_000, 'a 4/4 split');
    const owned = [...a.assignedQueues(), ...b.assignedQueues()].map((q) => `${q.brokerName}:${q.queueId}`);
    expect(new Set(owned).size).toBe(8);
    const sent = await sendAll(200);
    await waitFor(() => sent.every((r) => received.has(r.msgId)), 10_000, 'all 200 messages');
    await b.close();
    await waitFor(() => a.assignedQueues().length === 8, 10_000, 'a takes every queue back');
    const more = await sendAll(50);
    await waitFor(() => more.every((r) => received.has(r.msgId)), 10_000, '50 more messages');
  });

  it('validates subscriptions and options, and refuses to iterate a handler consumer', async () => {
    const { consumer } = await setup();
    expect(() => consumer().subscribe('bad topic')).toThrow(expect.objectContaining({ code: 'TOPIC_NAME_INVALID' }));
    expect(() => consumer().subscribe('orders', 'a || ')).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    await expect(consumer().start()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(() => consumer({ concurrency: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    // A consumer group needs room for its %RETRY% and %DLQ% topics and may not look like a system name.
    expect(() => consumer({ group: 'g'.repeat(121) })).toThrow(expect.objectContaining({ code: 'GROUP_NAME_INVALID' }));
    expect(() => consumer({ group: '%X%y' })).toThrow(expect.objectContaining({ code: 'GROUP_NAME_INVALID' }));
    expect(() => consumer({ group: 'g'.repeat(120) })).not.toThrow();
    const c = consumer().subscribe('orders');
    await expect(c[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'NOT_STARTED' });
    await c.start(() => undefined);
    await expect(c[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
