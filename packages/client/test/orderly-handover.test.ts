import type { FrameHeader, NotifyOffsetResetHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, rpcFailure } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { startCluster, waitFor } from './fake-cluster.js';
import type { Delivery } from './orderly-fixture.js';
import { KEYS, addLocks, capturingLogger, cleanups, gate, perKey, range, recorder, setup } from './orderly-fixture.js';
import { PushConsumer } from '../src/index.js';

/** Locks and hand-overs of orderly queues while a handler runs long, a commit fails, or a lease is short. */
describe('PushConsumer (orderly): locks and hand-over', () => {
  it('keeps a queue moved away and wanted back until its old handler returns: never two handlers on one queue', async () => {
    const { consumer, sendKeys } = await setup();
    await sendKeys(KEYS, 3);
    const log: Delivery[] = [];
    const active = new Map<number, string>();
    const blocked = gate();
    const logger = capturingLogger();
    const a = consumer({ logger });
    await a.start(recorder('a', log, active, async (message) => (message.queueOffset === 0 ? blocked.promise : undefined)));
    await waitFor(() => log.length === 2, 5000, 'both queues blocked on their first message');
    const b = consumer();
    await b.start(recorder('b', log, active));
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'a queue moved away from a');
    // b cannot lock it while a's handler runs (a keeps the lock); b leaves, so a wants the queue back.
    expect(b.assignedQueues()).toEqual([]);
    await b.close();
    await waitFor(() => logger.has('still being released') || a.assignedQueues().length === 2, 5000, 'a wanting the queue back');
    expect(a.assignedQueues()).toHaveLength(1);
    blocked.open();
    await waitFor(() => a.assignedQueues().length === 2, 5000, 'the queue back once its handler returned');
    await waitFor(() => log.filter((d) => !d.failed).length === KEYS.length * 3, 5000, 'every message');
    // Exactly once and in order per key: the first message's offset was committed before the queue came back.
    expect(log.filter((d) => d.failed)).toEqual([]);
    for (const key of KEYS) expect(perKey(log).get(key)).toEqual(range(3));
  });

  it('waits for the old handler of a queue whose lock was lost and then taken back', async () => {
    const { locks, consumer, producer } = await setup(1);
    for (let seq = 0; seq < 3; seq++) await producer.send({ topic: 'orders', body: `k:${seq}`, shardingKey: 'k' });
    const log: Delivery[] = [];
    const blocked = gate();
    const a = consumer();
    await a.start(recorder('a', log, new Map(), async () => (log.length === 1 ? blocked.promise : undefined)));
    await waitFor(() => log.length === 1, 5000, 'the first message in the handler');
    locks.hold(0, 'thief');
    await waitFor(() => a.assignedQueues().length === 0, 5000, 'the queue dropped');
    locks.owners.delete('cg@orders@0');
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'the queue taken back');
    const renewals = () => locks.events.filter((e) => e.kind === 'lock' && e.clientId === a.clientId).length;
    const before = renewals();
    await waitFor(() => renewals() >= before + 3, 5000, 'three renewals');
    // The new ProcessQueue starts from the committed offset 0, but not beside the old handler.
    expect(log).toHaveLength(1);
    blocked.open();
    await waitFor(() => log.filter((d) => !d.failed).length === 4, 5000, 'the rest');
    expect(log.filter((d) => d.failed)).toEqual([]);
    // The lost lock's message was not committed: delivered again, after the first delivery returned.
    expect(perKey(log).get('k')).toEqual([0, 0, 1, 2]);
    expect(log[1]!.startedAt).toBeGreaterThanOrEqual(log[0]!.endedAt);
  });

  it('renews the lock of a released queue while its handler runs past the lease', async () => {
    const { locks, consumer, sendKeys } = await setup(2, 300);
    await sendKeys(KEYS, 3);
    const log: Delivery[] = [];
    const active = new Map<number, string>();
    const blocked = gate();
    const a = consumer();
    await a.start(recorder('a', log, active, async (message) => (message.queueOffset === 0 && message.reconsumeTimes === 0 ? blocked.promise : undefined)));
    await waitFor(() => log.length === 2, 5000, 'both queues blocked on their first message');
    const b = consumer();
    await b.start(recorder('b', log, active));
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'a queue moved away from a');
    const moved = [0, 1].find((id) => !a.assignedQueues().some((q) => q.queueId === id))!;
    // b asks for the queue again and again over several 300 ms leases: a keeps renewing it.
    const refusedAt = () => locks.events.filter((e) => e.kind === 'lock' && e.clientId === b.clientId && e.queueIds.includes(moved) && !e.granted!.includes(moved)).map((e) => e.at);
    await waitFor(() => refusedAt().length >= 2 && refusedAt().at(-1)! - refusedAt()[0]! > 1000, 5000, 'b refused for over three leases');
    expect(b.assignedQueues()).toEqual([]);
    blocked.open();
    await waitFor(() => b.assignedQueues().length === 1, 5000, 'b taking the queue');
    await waitFor(() => log.filter((d) => !d.failed).length === KEYS.length * 3, 5000, 'every message');
    expect(log.filter((d) => d.failed)).toEqual([]);
    for (const key of KEYS) expect(perKey(log).get(key)).toEqual(range(3));
  });

  it('renews at a third of a lease shorter than lockRenewIntervalMs', async () => {
    const { locks, consumer, producer } = await setup(1, 300);
    const log: Delivery[] = [];
    const a = consumer({ orderly: { lockRenewIntervalMs: 20_000 } });
    await a.start(recorder('a', log, new Map()));
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'the queue locked');
    const renewals = () => locks.events.filter((e) => e.kind === 'lock' && e.clientId === a.clientId).map((e) => e.at);
    await waitFor(() => renewals().length >= 5, 5000, 'renewals about every 100 ms');
    // Past several leases the lock is still valid: messages keep being consumed.
    await producer.send({ topic: 'orders', body: 'k:0', shardingKey: 'k' });
    await waitFor(() => log.length === 1, 5000, 'a message after several leases');
    expect(locks.ownerOf(0)).toBe(a.clientId);
  });

  it('commits before it unlocks on close, retries a failed commit, and never commits after the unlock', async () => {
    const { locks, consumer, producer, broker } = await setup(1);
    const log: Delivery[] = [];
    const a = consumer({ commitIntervalMs: 600_000 });
    await a.start(recorder('a', log, new Map()));
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'the queue locked');
    for (let seq = 0; seq < 5; seq++) await producer.send({ topic: 'orders', body: `k:${seq}`, shardingKey: 'k' });
    await waitFor(() => log.length === 5, 5000, 'five messages');
    locks.control.failCommits = 1;
    const beforeClose = locks.events.length; // earlier: the start position's commit when the queue was assigned
    await a.close();
    const tail = locks.events.slice(beforeClose).filter((e) => e.kind !== 'lock').map((e) => e.kind);
    expect(tail).toEqual(['commit-failed', 'commit', 'unlock']);
    expect(broker.committed.get('cg@orders@0')).toBe(5);
    expect(locks.ownerOf(0)).toBeUndefined();
  });

  it('leaves the lock to expire when the offset cannot be committed (close and rebalance)', async () => {
    const { locks, consumer, sendKeys } = await setup();
    await sendKeys(KEYS, 3);
    const log: Delivery[] = [];
    const logger = capturingLogger();
    const a = consumer({ commitIntervalMs: 600_000, logger });
    await a.start(recorder('a', log, new Map()));
    await waitFor(() => log.length === KEYS.length * 3, 5000, 'every message');
    locks.control.failCommits = 1000;
    const b = consumer({ commitIntervalMs: 600_000 });
    await b.start(recorder('b', log, new Map()));
    await waitFor(() => logger.has('could not be committed'), 5000, 'the released queue given up');
    const moved = [0, 1].find((id) => !a.assignedQueues().some((q) => q.queueId === id))!;
    expect(locks.ownerOf(moved)).toBe(a.clientId);
    expect(b.assignedQueues()).toEqual([]);
    await a.close();
    expect(locks.ownerOf(1 - moved)).toBe(a.clientId);
    expect(locks.events.filter((e) => e.kind === 'unlock' && e.clientId === a.clientId)).toEqual([]);
  });

  it('gives the lock back when the start offset cannot be read after locking', async () => {
    const { broker, locks, consumer, producer } = await setup(1);
    let failQueries = true;
    broker.server.register(RequestCode.QUERY_OFFSETS, (frame) => {
      if (failQueries) throw rpcFailure(ResponseCode.SYSTEM_ERROR, 'injected query failure');
      const { topic, queueId, group } = frame.header as { topic: string; queueId: number; group?: string };
      const committed = group === undefined ? -1 : (broker.committed.get(`${group}@${topic}@${queueId}`) ?? -1);
      return { header: { minOffset: 0, maxOffset: broker.queue(topic, queueId).length, committedOffset: committed } };
    });
    const log: Delivery[] = [];
    const a = consumer();
    await a.start(recorder('a', log, new Map()));
    await waitFor(() => locks.events.some((e) => e.kind === 'unlock' && e.clientId === a.clientId && e.queueIds.includes(0)), 5000, 'the lock given back');
    expect(a.assignedQueues()).toEqual([]);
    failQueries = false;
    await producer.send({ topic: 'orders', body: 'k:0', shardingKey: 'k' });
    await waitFor(() => log.length === 1, 5000, 'consuming once the offset is readable');
  });

  it('an admin offset reset waits for the message in flight and does not commit over the reset offset', async () => {
    const { broker, consumer, producer } = await setup(1);
    for (let seq = 0; seq < 5; seq++) await producer.send({ topic: 'orders', body: `k:${seq}`, shardingKey: 'k' });
    const log: Delivery[] = [];
    const blocked = gate();
    const a = consumer();
    await a.start(recorder('a', log, new Map(), async (message) => (message.queueOffset === 2 && log.length === 3 ? blocked.promise : undefined)));
    await waitFor(() => log.length === 3 && broker.committed.get('cg@orders@0') === 2, 5000, 'offset 2 in the handler, 2 committed');
    broker.committed.set('cg@orders@0', 0);
    const reset: NotifyOffsetResetHeader = { group: 'cg', brokerName: broker.brokerName, offsets: [{ topic: 'orders', queueId: 0, offset: 0, previous: 2 }] };
    for (const connection of broker.members.get('cg')!.values()) connection.oneway(RequestCode.NOTIFY_OFFSET_RESET, reset as unknown as FrameHeader);
    await waitFor(() => a.assignedQueues().length === 0, 5000, 'the queue dropped by the reset');
    blocked.open();
    await waitFor(() => log.filter((d) => !d.failed).length === 8, 5000, 'the queue consumed again from offset 0');
    expect(log.filter((d) => d.failed)).toEqual([]);
    expect(perKey(log).get('k')).toEqual([0, 1, 2, 0, 1, 2, 3, 4]);
    await waitFor(() => broker.committed.get('cg@orders@0') === 5, 5000, 'committed to the end');
  });

  it('a slow renewal never leaves a queue released meanwhile locked (two brokers)', async () => {
    const cluster = await startCluster({ brokers: 2, topics: ['orders'], queueNums: 1 });
    cleanups.push(() => cluster.close());
    const brokerLocks = cluster.brokers.map((broker) => addLocks(broker));
    const consumer = () => {
      const c = new PushConsumer({
        nameServers: [cluster.nameServer.address], group: 'cg', consumeFromWhere: 'FIRST_OFFSET', orderly: { suspendMs: 20, lockRenewIntervalMs: 50 }, rebalanceIntervalMs: 100,
        commitIntervalMs: 50,
      });
      cleanups.push(() => c.close());
      return c.subscribe('orders');
    };
    const a = consumer();
    await a.start(() => undefined);
    await waitFor(() => a.assignedQueues().length === 2, 5000, 'a holding both queues');
    // a renews broker by broker, in the order it took the queues. Its next renewal is held by the first broker (as if
    // that broker were slow) until a has unlocked the queue it gives to b; b's locks wait until a's renewal is over.
    const first = brokerLocks[cluster.brokers.findIndex((broker) => broker.brokerName === a.assignedQueues()[0]!.brokerName)]!;
    first.holdLocksOf(a.clientId);
    await waitFor(() => first.heldCount(a.clientId) > 0, 5000, 'a renewal held');
    const b = consumer();
    for (const locks of brokerLocks) {
      locks.holdLocksOf(b.clientId);
      locks.control.onUnlock = (clientId) => clientId === a.clientId && first.releaseHeld(a.clientId);
    }
    const started = b.start(() => undefined);
    await waitFor(() => a.assignedQueues().length === 1, 5000, 'a giving one queue up');
    const renewalsOfA = () => brokerLocks.flatMap((locks) => locks.events).filter((e) => e.kind === 'lock' && e.clientId === a.clientId).length;
    await waitFor(() => brokerLocks.some((locks) => locks.events.some((e) => e.kind === 'unlock' && e.clientId === a.clientId)), 5000, 'a unlocking it');
    const renewals = renewalsOfA();
    await waitFor(() => renewalsOfA() > renewals + 1, 5000, "a's next renewals (the held one's round is over)");
    for (const locks of brokerLocks) locks.releaseHeld(b.clientId);
    await started;
    await waitFor(() => b.assignedQueues().length === 1, 5000, 'b locking the queue a gave up');
    expect(new Set([...a.assignedQueues(), ...b.assignedQueues()].map((q) => q.brokerName)).size).toBe(2);
  });
});
