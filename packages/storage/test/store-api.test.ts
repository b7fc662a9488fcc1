import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { MessageStoreOptions } from '../src/index.js';
import { MessageStore, StorageError } from '../src/index.js';
import { SMALL_SEGMENTS, batch, openStore, record, tempDir, waitForQueue } from './helpers.js';

/** Waits (without a fixed sleep) until the clock has moved past `ms`. */
async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await tick();
}

describe('getOffsetByTime', () => {
  it('returns the first offset stored at or after a timestamp', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const times: number[] = [];
    for (let round = 0; round < 6; round++) {
      const result = await store.append(batch('time', 10, 0, `r${round}-`));
      times.push(result.storeTimestamp);
      await clockPast(result.storeTimestamp);
    }
    await waitForQueue(store, 'time', 0, 60);
    for (let round = 0; round < 6; round++) {
      expect(await store.getOffsetByTime('time', 0, times[round]!)).toBe(round * 10);
      // One millisecond earlier still finds this round, unless the previous round was stored in that millisecond.
      const previousInThatMs = round > 0 && times[round - 1] === times[round]! - 1;
      expect(await store.getOffsetByTime('time', 0, times[round]! - 1)).toBe(previousInThatMs ? (round - 1) * 10 : round * 10);
    }
    expect(await store.getOffsetByTime('time', 0, 0)).toBe(0);
    expect(await store.getOffsetByTime('time', 0, times[5]! + 1)).toBe(60);
    expect(await store.getOffsetByTime('nope', 0, 0)).toBe(0);
    await store.close();
  });
});

describe('store lock', () => {
  it('refuses a second open of the same directory in one process', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await expect(MessageStore.open(dir, SMALL_SEGMENTS)).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await store.close();
    const again = await openStore(dir, SMALL_SEGMENTS);
    await again.close();
  });

  it('refuses a directory locked by another live process and takes over a dead one', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'lock'), String(process.ppid));
    await expect(MessageStore.open(dir, SMALL_SEGMENTS)).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await writeFile(join(dir, 'lock'), '2147483646'); // no such process
    const store = await openStore(dir, SMALL_SEGMENTS);
    await store.append(record('l', 'ok'));
    await store.close();
  });
});

describe('options', () => {
  const bad: Array<[string, MessageStoreOptions]> = [
    ['segmentBytes too small', { segmentBytes: 1024 }],
    ['segment cannot hold the largest body', { segmentBytes: 256 * 1024, maxBodyBytes: 200 * 1024 }],
    ['unknown option', { segmentSize: 1 } as unknown as MessageStoreOptions],
    ['bad flush mode', { flushMode: 'sometimes' } as unknown as MessageStoreOptions],
    ['non-integer interval', { flushIntervalMs: 1.5 }],
    ['ratio above 1', { diskRefuseRatio: 1.5 }],
    ['clean above refuse', { diskCleanRatio: 0.95, diskRefuseRatio: 0.9 }],
    ['retention not positive', { retentionHours: 0 }],
    ['tiny consume-queue segments', { consumeQueueEntriesPerSegment: 2 }],
  ];
  for (const [name, options] of bad) {
    it(`rejects ${name} with INVALID_OPTIONS`, async () => {
      const dir = await tempDir();
      const error: unknown = await MessageStore.open(dir, options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: 'INVALID_OPTIONS', retriable: false });
    });
  }

  it('rejects reopening with a different segment size, and stays openable with the right one', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    for (let i = 0; i < 30; i++) await store.append(record('o', Buffer.alloc(10_000)));
    await store.close();
    await expect(MessageStore.open(dir, { ...SMALL_SEGMENTS, segmentBytes: 512 * 1024 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect(reopened.queueOffsets('o', 0)).toEqual({ minOffset: 0, maxOffset: 30 });
    await reopened.close();
  });

  it('rejects records too large for a segment and queue ids out of range', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await expect(store.append(record('o', Buffer.alloc(SMALL_SEGMENTS.maxBodyBytes + 1)))).rejects.toBeDefined();
    await expect(store.append(record('o', 'x', 70_000))).rejects.toMatchObject({ code: 'QUEUE_ID_INVALID' });
    expect(store.topics()).toEqual([]);
    await store.close();
  });
});
