import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DueTimer } from '../src/index.js';
import { DelayErrorCode, TimerStore } from '../src/index.js';
import { msgId, tempDir, until } from './helpers.js';

interface Fired {
  timer: DueTimer;
  at: number;
}

function collect(store: TimerStore): Fired[] {
  const fired: Fired[] = [];
  store.onDue((timers) => {
    const at = Date.now();
    for (const timer of timers) fired.push({ timer, at });
  });
  return fired;
}

/** Makes Date.now() run `ms` ahead from here on (a downtime without waiting for it). */
function skipAhead(ms: number): void {
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + ms);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TimerStore', () => {
  it('fires each timer at its own time, never early, within precision', async () => {
    const store = TimerStore.open(tempDir(), { precisionMs: 100 });
    const fired = collect(store);
    const base = Date.now();
    const delays = [0, 5, 37, 120, 250, 333, 480, 777, 1_010, 1_500];
    delays.forEach((delay, i) => store.schedule(base + delay, i + 1, 10, msgId()));
    await until(() => fired.length === delays.length);
    for (const { timer, at } of fired) {
      expect(at).toBeGreaterThanOrEqual(timer.deliverAt);
      expect(at - timer.deliverAt).toBeLessThan(50);
    }
    expect(store.stats().pending).toBe(0);
    await store.close();
  });

  it('rolls timers beyond a short wheel forward and fires them on time', async () => {
    const store = TimerStore.open(tempDir(), { precisionMs: 20, wheelSpanMs: 200 });
    const fired = collect(store);
    const deliverAt = Date.now() + 1_000; // five spans
    store.schedule(deliverAt, 7, 1, msgId());
    await until(() => fired.length === 1);
    expect(fired[0]!.at).toBeGreaterThanOrEqual(deliverAt);
    expect(fired[0]!.at - deliverAt).toBeLessThan(60);
    expect(store.stats().rolled).toBeGreaterThanOrEqual(3);
    await store.close();
  });

  it('keeps pending timers across close and reopen, and fires ones that came due while closed', async () => {
    const dir = tempDir();
    let store = TimerStore.open(dir);
    const now = Date.now();
    store.schedule(now + 300, 1, 1, msgId());
    store.schedule(now + 1_200, 2, 1, msgId());
    await store.close();
    await new Promise((resolve) => setTimeout(resolve, 400)); // the first timer comes due while the store is closed
    store = TimerStore.open(dir);
    expect(store.stats().pending).toBe(2);
    const fired = collect(store);
    await until(() => fired.length === 2);
    expect(fired.map((f) => f.timer.commitLogOffset)).toEqual([1, 2]);
    expect(fired[1]!.at).toBeGreaterThanOrEqual(now + 1_200);
    await store.close();
  });

  it('recovers entries written after the last checkpoint (crash without close)', async () => {
    const dir = tempDir();
    const store = TimerStore.open(dir, { checkpointIntervalMs: 60_000 });
    const now = Date.now();
    for (let i = 0; i < 1_000; i++) store.schedule(now + 500 + (i % 50) * 10, i + 1, 1, msgId());
    await new Promise((resolve) => setImmediate(resolve)); // the entries reach the OS
    // Simulated crash: the store is abandoned, its wheel never flushed after the entries.
    const reopened = TimerStore.open(dir);
    expect(reopened.recoveredOffsets.size).toBe(0); // reopen checkpoints at once
    expect(reopened.stats().pending).toBe(1_000);
    const fired = collect(reopened);
    await until(() => fired.length >= 1_000);
    expect(new Set(fired.map((f) => f.timer.commitLogOffset)).size).toBe(1_000);
    for (const { timer, at } of fired) expect(at).toBeGreaterThanOrEqual(timer.deliverAt);
    await reopened.close();
  });

  it('cancels a timer by message id', async () => {
    const dir = tempDir();
    const store = TimerStore.open(dir);
    const keep = msgId();
    const drop = msgId();
    const now = Date.now();
    store.schedule(now + 200, 1, 1, keep);
    store.schedule(now + 200, 2, 1, drop);
    store.cancel(drop, now + 200);
    const fired = collect(store);
    await until(() => store.stats().cancelled === 1 && fired.length === 1);
    expect(fired[0]!.timer.msgId).toBe(keep);
    await store.close();
  });

  it('keeps a cancellation across a downtime far past the timer, until the overdue timer was processed', async () => {
    const dir = tempDir();
    let store = TimerStore.open(dir);
    const keep = msgId();
    const drop = msgId();
    const now = Date.now();
    store.schedule(now + 200, 1, 1, keep);
    store.schedule(now + 200, 2, 1, drop);
    store.cancel(drop, now + 200);
    await store.close();
    skipAhead(10 * 60_000); // closed for ten minutes past both timers
    store = TimerStore.open(dir);
    expect(store.stats().tombstones).toBe(1);
    const fired = collect(store);
    await until(() => store.stats().cancelled === 1 && fired.length === 1);
    expect(fired[0]!.timer.msgId).toBe(keep);
    // Dropped once the store has durably processed the timer's time (memory stays bounded).
    await until(() => {
      store.checkpoint();
      return store.stats().tombstones === 0;
    });
    await store.close();
  });

  it('drops the tombstone of a timer that never fires once the store has processed its time', async () => {
    const store = TimerStore.open(tempDir(), { precisionMs: 20 });
    collect(store);
    store.cancel(msgId(), Date.now() + 100);
    store.checkpoint();
    expect(store.stats().tombstones).toBe(1);
    await until(() => {
      store.checkpoint();
      return store.stats().tombstones === 0;
    });
    await store.close();
  });

  it('retries a batch whose handler failed', async () => {
    const store = TimerStore.open(tempDir(), { retryDelayMs: 50 });
    let calls = 0;
    const delivered: DueTimer[] = [];
    store.onDue((timers) => {
      calls++;
      if (calls === 1) throw new Error('store busy');
      delivered.push(...timers);
    });
    store.schedule(Date.now() + 10, 1, 1, msgId());
    await until(() => delivered.length === 1);
    expect(calls).toBe(2);
    await store.close();
  });

  it('rejects a delay beyond the maximum with DELAY_TOO_LONG naming the maximum', async () => {
    const store = TimerStore.open(tempDir(), { maxDelayMs: 60_000 });
    expect(() => store.schedule(Date.now() + 120_000, 1, 1, msgId())).toThrow(expect.objectContaining({ code: DelayErrorCode.DELAY_TOO_LONG, message: expect.stringContaining('60000 ms') }));
    await store.close();
  });
});
