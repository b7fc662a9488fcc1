import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DiskUsageProbe, MessageStore } from '../src/index.js';
import { StorageError } from '../src/index.js';
import { SMALL_SEGMENTS, openStore, readAll, record, segmentFiles, tempDir, waitForQueue } from './helpers.js';

/** A disk-usage probe whose ratio the test sets. */
function probe(initial: number): { probe: DiskUsageProbe; set: (ratio: number) => void } {
  let ratio = initial;
  return {
    probe: async () => ({ totalBytes: 1_000_000, freeBytes: Math.round(1_000_000 * (1 - ratio)) }),
    set: (next) => {
      ratio = next;
    },
  };
}

/** ~1 MiB of 10 KiB records in r/0: five commit-log segments. Returns each record's commit-log offset. */
async function fill(store: MessageStore, count = 100): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) offsets.push((await store.append(record('r', Buffer.alloc(10_000, i)))).commitLogOffsets[0]!);
  await waitForQueue(store, 'r', 0, count);
  await store.checkpoint(); // flushed and dispatched: eligible for deletion
  return offsets;
}

describe('retention', () => {
  it('deletes the oldest segments under disk pressure and reports OFFSET_TOO_SMALL for them', async () => {
    const dir = await tempDir();
    const disk = probe(0.5);
    const store = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe, diskCleanRatio: 0.75, diskRefuseRatio: 0.9 });
    const offsets = await fill(store);
    const before = await segmentFiles(join(dir, 'commitlog'));
    expect(before.length).toBeGreaterThanOrEqual(4);
    expect((await store.runRetention()).deletedSegments).toBe(0);

    disk.set(0.8);
    const run = await store.runRetention();
    // The probe never reports relief, so every segment but the newest goes.
    expect(run.deletedSegments).toBe(before.length - 1);
    expect(run.refusingWrites).toBe(false);
    expect(await segmentFiles(join(dir, 'commitlog'))).toEqual(before.slice(-1));
    expect(store.minOffset).toBe(Number(before.at(-1)!.slice(-20)));

    const firstKept = offsets.findIndex((offset) => offset >= store.minOffset);
    const queue = store.queueOffsets('r', 0)!;
    expect(queue.minOffset).toBe(firstKept);
    expect(queue.maxOffset).toBe(100);
    const tooSmall = await store.read('r', 0, 0);
    expect(tooSmall.status).toBe('OFFSET_TOO_SMALL');
    expect(tooSmall.nextOffset).toBe(firstKept);
    expect(tooSmall.minOffset).toBe(firstKept);
    const kept = await readAll(store, 'r', 0);
    expect(kept.map((m) => m.queueOffset)).toEqual(Array.from({ length: 100 - firstKept }, (_, i) => firstKept + i));
    expect(kept.every((m) => m.body.every((b) => b === m.queueOffset))).toBe(true);
    expect(await store.readRecordAt(offsets[0]!)).toBeUndefined();

    // Offsets continue, and a restart keeps the new minimum.
    disk.set(0.5);
    expect((await store.append(record('r', 'next'))).queueOffsets).toEqual([100]);
    await store.close();
    const reopened = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe });
    expect(reopened.queueOffsets('r', 0)!.minOffset).toBe(firstKept);
    expect((await reopened.read('r', 0, firstKept - 1)).status).toBe('OFFSET_TOO_SMALL');
    const all = await readAll(reopened, 'r', 0);
    expect(all.map((m) => m.queueOffset)).toEqual(Array.from({ length: 101 - firstKept }, (_, i) => firstKept + i));
    expect((await reopened.append(record('r', 'after restart'))).queueOffsets).toEqual([101]);
    await reopened.close();
  });

  it('never deletes what is not yet flushed and dispatched', async () => {
    const dir = await tempDir();
    const disk = probe(0.5);
    const store = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe, flushIntervalMs: 3_600_000, checkpointIntervalMs: 3_600_000 });
    for (let i = 0; i < 100; i++) await store.append(record('r', Buffer.alloc(10_000, i)));
    // Async flush with an hour-long interval: nothing written since open is known durable yet.
    expect(store.flushedOffset).toBe(0);
    disk.set(0.87); // above the default clean ratio (0.85), below the refuse ratio (0.90)
    expect((await store.runRetention()).deletedSegments).toBe(0);
    expect(store.minOffset).toBe(0);
    await store.checkpoint();
    expect((await store.runRetention()).deletedSegments).toBeGreaterThan(0);
    await store.close();
  });

  it('refuses appends with a retriable DISK_FULL above the refuse ratio while reads keep working', async () => {
    const dir = await tempDir();
    const disk = probe(0.5);
    const store = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe, diskCleanRatio: 0.75, diskRefuseRatio: 0.9 });
    await fill(store, 10);
    disk.set(0.95);
    const run = await store.runRetention();
    expect(run.refusingWrites).toBe(true);
    const error: unknown = await store.append(record('r', 'refused')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'DISK_FULL', retriable: true });
    expect((await store.read('r', 0, 0, { maxCount: 100 })).count).toBe(10);
    expect(store.queueOffsets('r', 0)!.maxOffset).toBe(10);

    disk.set(0.5);
    expect((await store.runRetention()).refusingWrites).toBe(false);
    expect((await store.append(record('r', 'accepted'))).queueOffsets).toEqual([10]);
    await store.close();
  });

  it('refuses appends right after open when the disk is already full', async () => {
    const dir = await tempDir();
    const disk = probe(0.99);
    const store = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe });
    await expect(store.append(record('r', 'x'))).rejects.toMatchObject({ code: 'DISK_FULL' });
    await store.close();
  });

  it('deletes segments older than retentionHours', async () => {
    const dir = await tempDir();
    const disk = probe(0.1);
    const store = await openStore(dir, { ...SMALL_SEGMENTS, diskUsageProbe: disk.probe, retentionHours: 1 });
    const offsets = await fill(store);
    const segments = await segmentFiles(join(dir, 'commitlog'));
    expect((await store.runRetention()).deletedSegments).toBe(0);
    // Age the two oldest segments past the retention period.
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const file of segments.slice(0, 2)) await utimes(file, old, old);
    const run = await store.runRetention();
    expect(run.deletedSegments).toBe(2);
    expect(await segmentFiles(join(dir, 'commitlog'))).toEqual(segments.slice(2));
    const firstKept = offsets.findIndex((offset) => offset >= store.minOffset);
    expect(firstKept).toBeGreaterThan(0);
    const read = await store.read('r', 0, 0);
    expect(read.status).toBe('OFFSET_TOO_SMALL');
    expect(read.minOffset).toBe(firstKept);
    expect((await store.read('r', 0, firstKept)).status).toBe('FOUND');
    await store.close();
  });
});
