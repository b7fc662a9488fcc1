import { describe, expect, it } from 'vitest';
import { SMALL_SEGMENTS, batch, readAll, record, tempDir, waitForQueue, openStore } from './helpers.js';

describe('clean restart', () => {
  it('reopens with everything readable, no scan, and offsets continuing', async () => {
    const dir = await tempDir();
    const first = await openStore(dir, SMALL_SEGMENTS);
    for (let round = 0; round < 30; round++) {
      await first.append(batch('orders', 10, round % 3, `r${round}-`));
      await first.append(record('audit', Buffer.alloc(20_000, round), 0));
    }
    const maxOffset = first.maxOffset;
    for (let queueId = 0; queueId < 3; queueId++) await waitForQueue(first, 'orders', queueId, 100);
    const queueEnds = [0, 1, 2].map((queueId) => first.queueOffsets('orders', queueId)!.maxOffset);
    expect(queueEnds).toEqual([100, 100, 100]);
    expect(maxOffset).toBeGreaterThan(2 * SMALL_SEGMENTS.segmentBytes);
    await first.close();

    const second = await openStore(dir, SMALL_SEGMENTS);
    expect(second.recovery.unclean).toBe(false);
    expect(second.recovery.scannedBytes).toBe(0);
    expect(second.recovery.truncatedBytes).toBe(0);
    expect(second.recovery.rebuiltQueues).toEqual([]);
    expect(second.maxOffset).toBe(maxOffset);
    expect(second.topics().sort()).toEqual(['audit', 'orders']);
    expect(second.queueIds('orders')).toEqual([0, 1, 2]);
    for (let queueId = 0; queueId < 3; queueId++) {
      const messages = await readAll(second, 'orders', queueId);
      expect(messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const rounds = Array.from({ length: 30 }, (_, r) => r).filter((r) => r % 3 === queueId);
      expect(messages.map((m) => m.body.toString())).toEqual(rounds.flatMap((r) => Array.from({ length: 10 }, (_, i) => `r${r}-${i}`)));
    }
    expect((await readAll(second, 'audit', 0)).length).toBe(30);

    const next = await second.append(record('orders', 'after restart', 1));
    expect(next.queueOffsets).toEqual([100]);
    expect(next.commitLogOffsets[0]).toBeGreaterThanOrEqual(maxOffset);
    const fresh = await second.append(record('audit', 'after restart', 0));
    expect(fresh.queueOffsets).toEqual([30]);
    expect(fresh.commitLogOffsets[0]).toBeGreaterThan(next.commitLogOffsets[0]!);
    await waitForQueue(second, 'orders', 1, 101);
    const last = await readAll(second, 'orders', 1);
    expect(last.at(-1)!.body.toString()).toBe('after restart');
    await second.close();

    // A third open still sees the appends of the second.
    const third = await openStore(dir, SMALL_SEGMENTS);
    expect(third.recovery.scannedBytes).toBe(0);
    expect(third.queueOffsets('orders', 1)).toEqual({ minOffset: 0, maxOffset: 101 });
    expect(third.queueOffsets('audit', 0)).toEqual({ minOffset: 0, maxOffset: 31 });
    await third.close();
  });

  it('reopens an empty store', async () => {
    const dir = await tempDir();
    await (await openStore(dir, SMALL_SEGMENTS)).close();
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.maxOffset).toBe(0);
    expect(store.topics()).toEqual([]);
    expect((await store.append(record('t', 'first'))).commitLogOffsets).toEqual([0]);
    await store.close();
  });

  it('reopens a store whose last segment ends exactly with end-of-segment padding', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    // Fill until the log rolls into a second segment, then close: the first segment is exactly full.
    let offsets: number[] = [];
    let count = 0;
    while (store.maxOffset < SMALL_SEGMENTS.segmentBytes) {
      offsets = (await store.append(record('fill', Buffer.alloc(30_000, 1)))).commitLogOffsets;
      count++;
    }
    expect(offsets[0]).toBe(SMALL_SEGMENTS.segmentBytes);
    await store.close();
    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect((await readAll(reopened, 'fill', 0)).length).toBe(count);
    expect((await reopened.append(record('fill', 'x'))).queueOffsets).toEqual([count]);
    await reopened.close();
  });
});
