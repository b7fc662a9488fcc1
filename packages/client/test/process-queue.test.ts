import { describe, expect, it } from 'vitest';
import { ProcessQueue } from '../src/process-queue.js';

const buf = Buffer.alloc(0);
const queue = { topic: 't', brokerName: 'a', queueId: 0 };

describe('ProcessQueue offset tracking', () => {
  it('wakes a waiting pull loop only once a full cache has drained to half', async () => {
    const pq = new ProcessQueue(queue, 0, 8);
    for (let offset = 0; offset < 8; offset++) pq.add(buf, 0, 0, offset);
    expect(pq.isFull).toBe(true);
    let woken = false;
    const waiting = pq.waitForRoom().then(() => (woken = true));
    const taken = Array.from({ length: 8 }, () => pq.takeReady()!);
    for (const entry of taken.slice(0, 3)) pq.complete(entry);
    await Promise.resolve();
    expect(woken).toBe(false); // 5 of 8 still unfinished: a pull now would fetch only a few messages
    pq.complete(taken[3]!);
    await waiting;
    expect(woken).toBe(true);
    expect(pq.unfinished).toBe(4);
  });

  it('resetTo() moves back to a lower offset: the cache is dropped and late completions of old messages are no-ops', async () => {
    const pq = new ProcessQueue(queue, 0, 4);
    for (let offset = 0; offset < 4; offset++) pq.add(buf, 0, 0, offset);
    pq.nextOffset = 4;
    let woken = false;
    const waiting = pq.waitForRoom().then(() => (woken = true));
    const inFlight = pq.takeReady()!; // offset 0 in a handler, 1-3 cached
    expect(pq.resetTo(2)).toBe(4);
    await waiting;
    expect(woken).toBe(true); // the pull loop goes on at once
    expect([pq.unfinished, pq.hasReady, pq.nextOffset, pq.consumedOffset()]).toEqual([0, false, 2, 2]);
    // The old message finishes (or fails) afterwards: nothing changes, and offsets added from 2 on keep increasing.
    pq.complete(inFlight);
    pq.requeue(inFlight);
    expect([pq.unfinished, pq.hasReady]).toEqual([0, false]);
    pq.add(buf, 0, 0, 2);
    pq.nextOffset = 3;
    expect(pq.consumedOffset()).toBe(2);
    pq.complete(pq.takeReady()!);
    expect(pq.takeReady()).toBeUndefined();
    expect(pq.consumedOffset()).toBe(3);
  });

  it('commits the lowest offset not yet processed, whatever the completion order', () => {
    const pq = new ProcessQueue(queue, 10, 100);
    expect(pq.consumedOffset()).toBe(10);
    for (const offset of [10, 11, 12, 13]) pq.add(buf, 0, 0, offset);
    pq.nextOffset = 14;
    const [a, b, c, d] = [pq.takeReady()!, pq.takeReady()!, pq.takeReady()!, pq.takeReady()!];
    expect(pq.takeReady()).toBeUndefined();
    pq.complete(c);
    pq.complete(b);
    expect(pq.consumedOffset()).toBe(10); // 10 still in flight
    pq.complete(a);
    expect(pq.consumedOffset()).toBe(13);
    pq.complete(d);
    expect(pq.consumedOffset()).toBe(14); // nothing outstanding: next offset to pull
    expect(pq.unfinished).toBe(0);
  });

  it('accounts for gaps left by filtered messages', () => {
    const pq = new ProcessQueue(queue, 0, 100);
    pq.add(buf, 0, 0, 3);
    pq.add(buf, 0, 0, 7);
    pq.nextOffset = 9;
    const first = pq.takeReady()!;
    expect(pq.consumedOffset()).toBe(3);
    pq.complete(first);
    expect(pq.consumedOffset()).toBe(7);
  });

  it('redelivers a requeued message first and never commits past it', () => {
    const pq = new ProcessQueue(queue, 0, 100);
    for (const offset of [0, 1, 2]) pq.add(buf, 0, 0, offset);
    pq.nextOffset = 3;
    const m0 = pq.takeReady()!;
    const m1 = pq.takeReady()!;
    pq.complete(m1);
    pq.requeue(m0); // handler failed
    expect(pq.consumedOffset()).toBe(0);
    expect(pq.takeReady()).toBe(m0);
    expect(pq.takeReady()!.offset).toBe(2);
    pq.complete(m0);
    expect(pq.consumedOffset()).toBe(2);
  });

  it('bounds prefetch: full at maxPrefetch unfinished messages, room again after a completion', async () => {
    const pq = new ProcessQueue(queue, 0, 2);
    pq.add(buf, 0, 0, 0);
    pq.add(buf, 0, 0, 1);
    expect(pq.isFull).toBe(true);
    let woke = false;
    const waiting = pq.waitForRoom().then(() => (woke = true));
    const m = pq.takeReady()!;
    expect(woke).toBe(false);
    pq.complete(m);
    await waiting;
    expect(woke).toBe(true);
    expect(pq.isFull).toBe(false);
  });

  it('stops delivering when dropped and wakes a paused pull loop', async () => {
    const pq = new ProcessQueue(queue, 0, 1);
    pq.add(buf, 0, 0, 0);
    const waiting = pq.waitForRoom();
    pq.drop();
    await waiting;
    expect(pq.takeReady()).toBeUndefined();
    expect(pq.abort.signal.aborted).toBe(true);
  });

  it('compacts its bookkeeping over long runs', () => {
    const pq = new ProcessQueue(queue, 0, 1_000_000);
    for (let i = 0; i < 10_000; i++) pq.add(buf, 0, 0, i);
    pq.nextOffset = 10_000;
    const first = pq.takeReady()!;
    for (let i = 1; i < 10_000; i++) pq.complete(pq.takeReady()!);
    expect(pq.consumedOffset()).toBe(0);
    pq.complete(first);
    expect(pq.consumedOffset()).toBe(10_000);
  });
});
