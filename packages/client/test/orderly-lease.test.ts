import { describe, expect, it } from 'vitest';
import { waitFor } from './fake-cluster.js';
import type { Delivery } from './orderly-fixture.js';
import { gate, recorder, setup } from './orderly-fixture.js';
import { trackClientTimers } from './timer-tracker.js';

const LEASE_MS = 300;

/** Orderly queue leases: close() and commits respect them, and a lease that ran out is never silently resumed. */
describe('PushConsumer (orderly): leases', () => {
  it('keeps renewing its locks while close() waits for a handler running past the lease, then commits and unlocks', async () => {
    const { broker, locks, consumer, producer } = await setup(1, LEASE_MS);
    await producer.send({ topic: 'orders', body: 'k:0', shardingKey: 'k' });
    const log: Delivery[] = [];
    const blocked = gate();
    const timers = trackClientTimers();
    const a = consumer();
    await a.start(recorder('a', log, new Map(), () => blocked.promise));
    await waitFor(() => log.length === 1, 5000, 'k:0 in the handler');
    const closeStartedAt = Date.now();
    const closed = a.close();
    const grantsSinceClose = () =>
      locks.events.filter((e) => e.kind === 'lock' && e.clientId === a.clientId && e.at >= closeStartedAt && e.granted!.includes(0)).map((e) => e.at);
    // Another member could take the queue one lease after the last renewal: a keeps renewing for as long as it waits.
    await waitFor(() => (grantsSinceClose().at(-1) ?? 0) > closeStartedAt + 3 * LEASE_MS, 5000, 'renewals over three leases after close() began');
    const times = [closeStartedAt, ...grantsSinceClose()];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(LEASE_MS);
    expect(locks.ownerOf(0)).toBe(a.clientId);
    blocked.open();
    await closed;
    // Then, and only then: the offset past k:0 committed, the lock given back, and no renewal after the unlock.
    const sinceClose = locks.events.filter((e) => e.at >= closeStartedAt);
    expect(sinceClose.filter((e) => e.kind !== 'lock').map((e) => e.kind)).toEqual(['commit', 'unlock']);
    expect(sinceClose.at(-1)!.kind).toBe('unlock');
    expect(broker.committed.get('cg@orders@0')).toBe(1);
    expect(locks.ownerOf(0)).toBeUndefined();
    expect(timers.live()).toEqual([]);
  });

  it('commits nothing for a queue whose lease ran out: neither periodically nor with a pull', async () => {
    const { broker, locks, consumer, producer } = await setup(1, LEASE_MS);
    await producer.send({ topic: 'orders', body: 'k:0', shardingKey: 'k' });
    const log: Delivery[] = [];
    const blocked = gate();
    const a = consumer({ commitIntervalMs: 600_000 }); // commitOffsets() is called by hand below
    await a.start(recorder('a', log, new Map(), (message) => (message.queueOffset === 0 ? blocked.promise : undefined)));
    await waitFor(() => log.length === 1, 5000, 'k:0 in the handler');
    // a's renewals stop reaching the broker: its lease runs out while k:0 is in the handler.
    locks.holdLocksOf(a.clientId);
    await waitFor(() => locks.heldCount(a.clientId) > 0, 5000, 'a renewal held');
    const lastGrant = locks.events.filter((e) => e.kind === 'lock' && e.clientId === a.clientId && e.granted!.length > 0).at(-1)!.at;
    await waitFor(() => Date.now() > lastGrant + LEASE_MS + 50, 5000, "a's lease over");
    const leaseOverAt = Date.now();
    // Another member takes the queue over, consumes and commits further.
    locks.hold(0, 'thief');
    broker.committed.set('cg@orders@0', 5);
    blocked.open();
    await waitFor(() => log[0]!.endedAt > 0, 5000, 'k:0 done');
    // A new message ends a's long poll: its next pull would carry k:0's offset as a commit.
    const pullsBefore = broker.pulls.length;
    await producer.send({ topic: 'orders', body: 'k:1', shardingKey: 'k' });
    await waitFor(() => broker.pulls.slice(pullsBefore).some((p) => p.offset === 2), 5000, "a's next pull");
    expect(broker.pulls.slice(pullsBefore).map((p) => p.commitOffset)).toEqual(broker.pulls.slice(pullsBefore).map(() => -1));
    await a.commitOffsets();
    expect(locks.events.filter((e) => e.kind === 'commit' && e.at >= leaseOverAt)).toEqual([]);
    expect(broker.committed.get('cg@orders@0')).toBe(5);
    expect(log.map((d) => d.body)).toEqual(['k:0']); // nothing delivered without the lock either
    locks.releaseHeld(a.clientId);
  });

  it.each(['held at the broker', 'failing'] as const)('a renewal granted after the lease ran out (renewals %s) re-reads the committed offset', async (how) => {
    const { broker, locks, consumer, producer } = await setup(1, LEASE_MS);
    const send = (seq: number) => producer.send({ topic: 'orders', body: `k:${seq}`, shardingKey: 'k' });
    for (let seq = 0; seq < 3; seq++) await send(seq);
    const log: Delivery[] = [];
    const a = consumer();
    await a.start(recorder('a', log, new Map()));
    await waitFor(() => log.length === 3 && broker.committed.get('cg@orders@0') === 3, 5000, 'k:0-2 consumed and committed');
    const lastGrantOf = () => locks.events.filter((e) => e.kind === 'lock' && e.clientId === a.clientId && e.granted!.length > 0).at(-1)!.at;
    let lastGrant: number;
    if (how === 'held at the broker') {
      // The renewal sent before the lease ran out reaches the broker only after it (a slow network or broker).
      locks.holdLocksOf(a.clientId);
      await waitFor(() => locks.heldCount(a.clientId) > 0, 5000, 'a renewal held');
      lastGrant = lastGrantOf();
    } else {
      locks.control.failLocks = true;
      await waitFor(() => locks.events.at(-1)?.kind === 'lock-failed', 5000, 'a renewal failed');
      lastGrant = lastGrantOf();
    }
    await waitFor(() => Date.now() > lastGrant + LEASE_MS + 50, 5000, "a's lease over");
    // Meanwhile another member locks the queue, consumes k:3 and k:4, commits 5 and unlocks.
    locks.hold(0, 'thief');
    await send(3);
    await send(4);
    broker.committed.set('cg@orders@0', 5);
    locks.owners.delete('cg@orders@0');
    // a's next renewal is granted (the queue is free): a new lock, so a starts again from 5, not from its cache.
    if (how === 'held at the broker') locks.releaseHeld(a.clientId);
    else locks.control.failLocks = false;
    await waitFor(() => locks.ownerOf(0) === a.clientId, 5000, 'a holding the lock again');
    await send(5);
    await waitFor(() => log.some((d) => d.body === 'k:5'), 5000, 'k:5');
    expect(log.map((d) => d.body)).toEqual(['k:0', 'k:1', 'k:2', 'k:5']);
    await a.close();
    expect(broker.committed.get('cg@orders@0')).toBe(6);
  });
});
