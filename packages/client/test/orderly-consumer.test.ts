import { describe, expect, it } from 'vitest';
import { ORDERLY_DEFAULT_MAX_RECONSUME_TIMES, PushConsumer } from '../src/index.js';
import { waitFor } from './fake-cluster.js';
import type { Delivery } from './orderly-fixture.js';
import { KEYS, cleanups, perKey, range, recorder, setup } from './orderly-fixture.js';

describe('PushConsumer (orderly)', () => {
  it('processes each queue serially in offset order, retrying a failing message in place before the next one', async () => {
    const { broker, locks, consumer, sendKeys } = await setup();
    await sendKeys(KEYS, 30);
    const log: Delivery[] = [];
    const active = new Map<number, string>();
    const failOnce = new Set(['alpha:3', 'bravo:0', 'charlie:29', 'delta:10']);
    const c = consumer();
    let inHandler = 0;
    let maxInHandler = 0;
    await c.start(
      recorder('a', log, active, async (message) => {
        inHandler++;
        maxInHandler = Math.max(maxInHandler, inHandler);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inHandler--;
        const body = message.body.toString();
        if (failOnce.delete(body)) throw new Error(`injected failure of ${body}`);
      }),
    );
    await waitFor(() => log.filter((d) => !d.failed).length === KEYS.length * 30, 20_000, 'every message processed');
    // Per key: exactly 0..29 in order; a failed message was redelivered (reconsumeTimes 1) before its successor.
    for (const key of KEYS) expect(perKey(log).get(key)).toEqual(range(30));
    expect(log.filter((d) => d.failed).map((d) => d.body).sort()).toEqual(['alpha:3', 'bravo:0', 'charlie:29', 'delta:10']);
    for (const failed of log.filter((d) => d.failed)) {
      const next = log.indexOf(failed) + 1 + log.slice(log.indexOf(failed) + 1).findIndex((d) => d.queueId === failed.queueId);
      expect(log[next]).toMatchObject({ body: failed.body, reconsumeTimes: 1, failed: false });
      expect(log[next]!.startedAt - failed.endedAt).toBeGreaterThanOrEqual(15); // suspendMs 20
    }
    // Per queue: offsets strictly consecutive apart from the in-place retries; both queues ran side by side.
    for (const queueId of [0, 1]) {
      const offsets = log.filter((d) => d.queueId === queueId && !d.failed).map((d) => d.offset);
      expect(offsets).toEqual(range(offsets.length));
    }
    expect(maxInHandler).toBe(2);
    expect(c.assignedQueues().map((q) => q.queueId).sort()).toEqual([0, 1]);
    expect(locks.ownerOf(0)).toBe(c.clientId);
    // No retry topic in orderly mode: nothing sent back, no %RETRY% subscription.
    expect(locks.sendBacks).toEqual([]);
    expect(c.assignedQueues({ includeRetry: true }).every((q) => q.topic === 'orders')).toBe(true);
    await c.close();
    // Offsets committed to the end, and the locks released on close.
    expect(broker.committed.get('cg@orders@0')! + broker.committed.get('cg@orders@1')!).toBe(KEYS.length * 30);
    expect(locks.owners.size).toBe(0);
  });

  it('dead-letters a poison message after maxReconsumeTimes in-place retries and moves the queue on', async () => {
    const { broker, locks, consumer, sendKeys } = await setup(1);
    await sendKeys(['k'], 10, 'k:4');
    const log: Delivery[] = [];
    const c = consumer({ maxReconsumeTimes: 2 });
    await c.start(
      recorder('a', log, new Map(), (message) => {
        if (message.properties.poison === 'yes') throw new Error(`poison #${message.reconsumeTimes}`);
      }),
    );
    await waitFor(() => perKey(log).get('k')?.length === 9, 10_000, 'the messages after the poison');
    expect(perKey(log).get('k')).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
    const poison = log.filter((d) => d.body === 'k:4');
    expect(poison.map((d) => [d.reconsumeTimes, d.failed])).toEqual([[0, true], [1, true], [2, true]]);
    expect(locks.sendBacks).toHaveLength(1);
    expect(locks.sendBacks[0]).toMatchObject({ group: 'cg', delayLevel: -1, maxReconsumeTimes: 2, reconsumeTimes: 2, failureReason: 'Error: poison #2' });
    expect((locks.sendBacks[0]!.history as Array<[number, string]>).map(([, reason]) => reason)).toEqual(['Error: poison #0', 'Error: poison #1']);
    await waitFor(() => broker.committed.get('cg@orders@0') === 10, 5000, 'the offset committed past the poison');
  });

  it(`retries in place ${ORDERLY_DEFAULT_MAX_RECONSUME_TIMES} times by default, or as a maxReconsumeTimes function says`, async () => {
    const { locks, consumer, producer } = await setup(1);
    await producer.send({ topic: 'orders', body: 'a:0' });
    await producer.send({ topic: 'orders', body: 'b:0' });
    const log: Delivery[] = [];
    const c = consumer({ maxReconsumeTimes: (message) => (message.body.toString() === 'b:0' ? 1 : undefined) });
    await c.start(
      recorder('a', log, new Map(), () => {
        throw new Error('always');
      }),
    );
    await waitFor(() => locks.sendBacks.length === 2, 10_000, 'both dead-lettered');
    expect(log.filter((d) => d.body === 'a:0')).toHaveLength(ORDERLY_DEFAULT_MAX_RECONSUME_TIMES + 1);
    expect(log.filter((d) => d.body === 'b:0')).toHaveLength(2);
    expect(locks.sendBacks.map((h) => [h.maxReconsumeTimes, h.reconsumeTimes])).toEqual([[ORDERLY_DEFAULT_MAX_RECONSUME_TIMES, ORDERLY_DEFAULT_MAX_RECONSUME_TIMES], [1, 1]]);
  });

  it('consumes a queue only once it holds the lock, and renews its locks', async () => {
    const { locks, consumer, sendKeys } = await setup();
    locks.hold(0, 'someone-else');
    await sendKeys(KEYS, 5);
    const log: Delivery[] = [];
    const c = consumer();
    await c.start(recorder('a', log, new Map()));
    await waitFor(() => log.filter((d) => d.queueId === 1).length > 0, 5000, 'queue 1 consumed');
    const queue1 = log.filter((d) => d.queueId === 1).length;
    // Queue 0 is held: nothing of it is delivered, and it is not among the assigned queues.
    await waitFor(() => log.filter((d) => d.queueId === 1).length === queue1 && locks.ownerOf(1) === c.clientId, 5000, 'queue 1 drained');
    expect(log.filter((d) => d.queueId === 0)).toEqual([]);
    expect(c.assignedQueues().map((q) => q.queueId)).toEqual([1]);
    const renewedAt = locks.owners.get('cg@orders@1')!.at;
    await waitFor(() => locks.owners.get('cg@orders@1')!.at > renewedAt, 5000, 'a renewal');
    // The other holder goes away: the consumer takes queue 0 at its next try and reads it from the start.
    locks.owners.delete('cg@orders@0');
    await waitFor(() => log.length === KEYS.length * 5, 5000, 'queue 0 consumed too');
    expect(locks.ownerOf(0)).toBe(c.clientId);
    for (const key of KEYS) expect(perKey(log).get(key)).toEqual(range(5));
  });

  it('drops a queue whose lock another member took, and resumes it from the committed offset when it gets it back', async () => {
    const { broker, locks, consumer, producer } = await setup(1);
    const c = consumer();
    const log: Delivery[] = [];
    await c.start(recorder('a', log, new Map()));
    await waitFor(() => c.assignedQueues().length === 1, 5000, 'queue locked');
    await producer.send({ topic: 'orders', body: 'k:0', shardingKey: 'k' });
    await waitFor(() => broker.committed.get('cg@orders@0') === 1, 5000, 'first message committed');
    locks.hold(0, 'thief');
    await waitFor(() => c.assignedQueues().length === 0, 5000, 'the queue dropped');
    // The thief consumed one message meanwhile and committed.
    await producer.send({ topic: 'orders', body: 'k:1', shardingKey: 'k' });
    await producer.send({ topic: 'orders', body: 'k:2', shardingKey: 'k' });
    broker.committed.set('cg@orders@0', 2);
    locks.owners.delete('cg@orders@0');
    await waitFor(() => log.length === 2, 5000, 'k:2');
    expect(log.map((d) => d.body)).toEqual(['k:0', 'k:2']);
  });

  it('hands a queue over on rebalance only after the message in flight finished and its offset was committed', async () => {
    const { broker, locks, consumer, sendKeys } = await setup();
    await sendKeys(KEYS, 40);
    const log: Delivery[] = [];
    const active = new Map<number, string>();
    const slow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
    const a = consumer();
    await a.start(recorder('a', log, active, slow));
    await waitFor(() => log.length > 20, 5000, 'a consuming');
    const b = consumer();
    await b.start(recorder('b', log, active, slow));
    await waitFor(() => a.assignedQueues().length === 1 && b.assignedQueues().length === 1, 10_000, 'one queue each');
    await waitFor(() => log.length === KEYS.length * 40, 20_000, 'every message');
    // Exactly once and in order per key, though a queue changed hands mid-stream (the recorder throws on overlap).
    expect(log.filter((d) => d.failed)).toEqual([]);
    for (const key of KEYS) expect(perKey(log).get(key)).toEqual(range(40));
    const moved = b.assignedQueues()[0]!.queueId;
    const firstOfB = log.find((d) => d.consumer === 'b')!;
    const lastOfA = log.filter((d) => d.consumer === 'a' && d.queueId === moved).at(-1)!;
    expect(firstOfB.offset).toBe(lastOfA.offset + 1);
    expect(firstOfB.startedAt).toBeGreaterThanOrEqual(lastOfA.endedAt);
    await a.close();
    await b.close();
    expect(broker.committed.get('cg@orders@0')! + broker.committed.get('cg@orders@1')!).toBe(KEYS.length * 40);
    expect(locks.owners.size).toBe(0);
  });

  it('validates the orderly options', async () => {
    const { cluster } = await setup();
    const base = { nameServers: [cluster.nameServer.address], group: 'cg' };
    expect(() => new PushConsumer({ ...base, orderly: { suspendMs: -1 } })).toThrow(/suspendMs/);
    expect(() => new PushConsumer({ ...base, orderly: { lockRenewIntervalMs: 0 } })).toThrow(/lockRenewIntervalMs/);
    expect(() => new PushConsumer({ ...base, orderly: true, messageModel: 'broadcasting' })).toThrow(/clustering/);
    const c = new PushConsumer({ ...base, orderly: true }).subscribe('orders');
    cleanups.push(() => c.close());
    await expect(c.start()).rejects.toThrow(/needs a handler/);
  });
});
