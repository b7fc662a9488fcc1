import { describe, expect, it } from 'vitest';
import type { DlqListResponseHeader, LockBatchResponseHeader, LockQueue, UnlockBatchResponseHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, decodeRecords, expectSuccess } from '@litemq/protocol';
import { QueueLockManager } from '../src/index.js';
import { client, record, sendResults, startBroker, tempDir, waitFor } from './helpers.js';

const q = (queueId: number, topic = 'orders'): LockQueue => ({ topic, queueId });

/** A lock table on a clock the test moves by hand (no start-up grace unless `graceMs` says so). */
function manual(leaseMs = 1000, graceMs = 0) {
  let now = 1_000_000;
  const locks = new QueueLockManager(leaseMs, () => now, graceMs);
  return { locks, advance: (ms: number) => (now += ms) };
}

describe('QueueLockManager', () => {
  it('grants free queues, refuses queues another client holds, and lets the owner lock again', () => {
    const { locks } = manual();
    expect(locks.lock('g', 'a', [q(0), q(1)])).toEqual([q(0), q(1)]);
    expect(locks.lock('g', 'b', [q(0), q(1), q(2)])).toEqual([q(2)]);
    expect(locks.lock('g', 'a', [q(0), q(2)])).toEqual([q(0)]);
    expect(locks.owner('g', 'orders', 0)).toBe('a');
    expect(locks.owner('g', 'orders', 2)).toBe('b');
    // Locks are per group and per topic.
    expect(locks.lock('other-group', 'b', [q(0)])).toEqual([q(0)]);
    expect(locks.lock('g', 'b', [q(0, 'payments')])).toEqual([q(0, 'payments')]);
    expect(locks.size).toBe(5);
  });

  it('keeps a renewed lock past the first lease and hands an expired one to another client', () => {
    const { locks, advance } = manual(1000);
    locks.lock('g', 'a', [q(0), q(1)]);
    advance(800);
    expect(locks.lock('g', 'a', [q(0)])).toEqual([q(0)]); // renews queue 0 only
    advance(800); // queue 0 renewed 800 ms ago, queue 1 locked 1600 ms ago
    expect(locks.lock('g', 'b', [q(0), q(1)])).toEqual([q(1)]);
    expect(locks.owner('g', 'orders', 1)).toBe('b');
    // Exactly at the lease the lock still holds; one ms later it is free.
    advance(200);
    expect(locks.lock('g', 'b', [q(0)])).toEqual([]);
    advance(1);
    expect(locks.owner('g', 'orders', 0)).toBeUndefined();
    expect(locks.lock('g', 'b', [q(0)])).toEqual([q(0)]);
    // The old owner cannot renew what it lost.
    expect(locks.lock('g', 'a', [q(0), q(1)])).toEqual([]);
  });

  it('unlocks only the queues the client owns', () => {
    const { locks } = manual();
    locks.lock('g', 'a', [q(0)]);
    locks.lock('g', 'b', [q(1)]);
    expect(locks.unlock('g', 'a', [q(0), q(1), q(2)])).toEqual([q(0)]);
    expect(locks.owner('g', 'orders', 1)).toBe('b');
    expect(locks.unlock('g', 'a', [q(1)])).toEqual([]);
    expect(locks.unlock('unknown', 'a', [q(1)])).toEqual([]);
    expect(locks.lock('g', 'c', [q(0), q(1)])).toEqual([q(0)]);
  });

  it('grants no lock during the start-up grace period (one lease by default): leases from before a restart run out first', () => {
    let now = 5000;
    const locks = new QueueLockManager(1000, () => now);
    expect(locks.graceMs).toBe(1000);
    expect(locks.inGrace).toBe(true);
    expect(locks.lock('g', 'a', [q(0), q(1)])).toEqual([]);
    now += 999;
    expect(locks.lock('g', 'a', [q(0)])).toEqual([]);
    expect(locks.owner('g', 'orders', 0)).toBeUndefined();
    now += 1;
    expect(locks.inGrace).toBe(false);
    expect(locks.lock('g', 'a', [q(0), q(1)])).toEqual([q(0), q(1)]);
    expect(locks.lock('g', 'b', [q(0)])).toEqual([]);
  });

  it('sweeps expired locks', () => {
    const { locks, advance } = manual(1000);
    locks.lock('g', 'a', [q(0), q(1)]);
    advance(500);
    locks.lock('h', 'a', [q(0)]);
    advance(600);
    expect(locks.size).toBe(1);
    expect(locks.sweep()).toBe(2);
    expect(locks.owner('h', 'orders', 0)).toBe('a');
  });
});

describe('LOCK_BATCH_MQ / UNLOCK_BATCH_MQ on a broker', () => {
  it('locks, renews, refuses other clients, expires after queueLockLeaseMs and unlocks for the owner only', async () => {
    const broker = await startBroker({ queueLockLeaseMs: 300 });
    const rpc = client();
    const lock = async (clientId: string, queues: LockQueue[]) =>
      expectSuccess(await rpc.request(broker.address, RequestCode.LOCK_BATCH_MQ, { group: 'cg', clientId, queues })).header as unknown as LockBatchResponseHeader;
    const unlock = async (clientId: string, queues: LockQueue[]) =>
      (expectSuccess(await rpc.request(broker.address, RequestCode.UNLOCK_BATCH_MQ, { group: 'cg', clientId, queues })).header as unknown as UnlockBatchResponseHeader).unlocked;

    // A broker that never granted a lock grants at once (no start-up grace).
    expect(await lock('a', [q(0), q(1)])).toEqual({ locked: [q(0), q(1)], leaseMs: 300 });
    expect((await lock('b', [q(0), q(1), q(2)])).locked).toEqual([q(2)]);
    expect(await unlock('b', [q(0)])).toEqual([]);
    expect((await lock('b', [q(0)])).locked).toEqual([]);

    // a keeps renewing queue 0 and stops renewing queue 1: b gets queue 1 once a's lease on it ran out.
    const renewedAt = Date.now();
    await waitFor(async () => {
      await lock('a', [q(0)]);
      return (await lock('b', [q(0), q(1)])).locked.length > 0;
    }, 5000, 'the lease of queue 1 to expire');
    expect(Date.now() - renewedAt).toBeGreaterThanOrEqual(250);
    expect((await lock('b', [q(1)])).locked).toEqual([q(1)]);
    expect((await lock('b', [q(0)])).locked).toEqual([]);

    expect(await unlock('a', [q(0), q(1)])).toEqual([q(0)]);
    expect((await lock('b', [q(0)])).locked).toEqual([q(0)]);
  });

  it('after a restart grants no lock until the leases granted before it have run out', async () => {
    const dataDir = await tempDir();
    const first = await startBroker({ queueLockLeaseMs: 400, dataDir });
    const rpc = client();
    const lock = async (address: string, clientId: string, queues: LockQueue[]) =>
      (expectSuccess(await rpc.request(address, RequestCode.LOCK_BATCH_MQ, { group: 'cg', clientId, queues })).header as unknown as LockBatchResponseHeader).locked;
    expect(await lock(first.address, 'a', [q(0)])).toEqual([q(0)]);
    await first.close();
    // a's lease (400 ms) may still run: the restarted broker, which forgot its table, must not give queue 0 to b.
    const second = await startBroker({ queueLockLeaseMs: 400, dataDir });
    const restartedAt = Date.now();
    expect(await lock(second.address, 'b', [q(0)])).toEqual([]);
    await waitFor(async () => (await lock(second.address, 'b', [q(0)])).length > 0, 5000, 'the grace period to end');
    expect(Date.now() - restartedAt).toBeGreaterThanOrEqual(200);
  });

  it('rejects malformed requests with INVALID_REQUEST', async () => {
    const broker = await startBroker();
    const rpc = client();
    const bad = [
      { clientId: 'a', queues: [q(0)] },
      { group: 'cg', queues: [q(0)] },
      { group: 'cg', clientId: 'a', queues: [{ topic: 'orders', queueId: -1 }] },
      { group: 'cg', clientId: 'a', queues: [{ topic: '', queueId: 0 }] },
      { group: 'cg', clientId: 'a', queues: ['orders'] },
      { group: 'cg', clientId: 'a', queues: 'orders' },
    ];
    for (const header of bad) {
      expect((await rpc.request(broker.address, RequestCode.LOCK_BATCH_MQ, header)).code).toBe(ResponseCode.INVALID_REQUEST);
      expect((await rpc.request(broker.address, RequestCode.UNLOCK_BATCH_MQ, header)).code).toBe(ResponseCode.INVALID_REQUEST);
    }
  });
});

describe('dead-lettering after in-place retries', () => {
  it('stores the consumer-side retry count and failure history with the dead letter', async () => {
    const broker = await startBroker();
    const rpc = client();
    const sent = expectSuccess(await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('orders', 'poison')));
    const [, commitLogOffset] = sendResults(sent)[0]!;
    const pulled = await rpc.request(broker.address, RequestCode.PULL_MESSAGE, { group: 'cg', topic: 'orders', queueId: 0, offset: 0, maxCount: 1 });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    const msgId = decodeRecords(pulled.body)[0]!.msgId;
    const reply = expectSuccess(
      await rpc.request(broker.address, RequestCode.CONSUMER_SEND_BACK, {
        group: 'cg', commitLogOffset, msgId, delayLevel: -1, maxReconsumeTimes: 2, reconsumeTimes: 2, failureReason: 'third failure',
        history: [[1000, 'first failure'], [2000, 'second failure']],
      }),
    );
    expect(reply.header).toMatchObject({ outcome: 'DLQ', reconsumeTimes: 2 });
    const list = expectSuccess(await rpc.request(broker.address, RequestCode.DLQ_LIST, { group: 'cg' })).header as unknown as DlqListResponseHeader;
    expect(list.total).toBe(1);
    const letter = list.messages[0]!;
    expect(letter.msgId).toBe(msgId);
    expect(letter.attempts).toBe(3);
    expect(letter.lastError).toBe('third failure');
    expect(letter.history.map(([, reason]) => reason)).toEqual(['first failure', 'second failure', 'third failure']);
    expect(letter.history.slice(0, 2).map(([at]) => at)).toEqual([1000, 2000]);

    const badHistory = await rpc.request(broker.address, RequestCode.CONSUMER_SEND_BACK, { group: 'cg', commitLogOffset, msgId, delayLevel: -1, history: [['x', 1]] });
    expect(badHistory.code).toBe(ResponseCode.INVALID_REQUEST);
  });
});
