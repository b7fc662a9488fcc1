import { appendFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MessageStore } from '../src/index.js';
import { SMALL_SEGMENTS, batch, openStore, readAll, record, segmentFiles, tempDir, waitForQueue } from './helpers.js';

interface Written {
  dir: string;
  end: number;
  lastRecord: Buffer;
}

/** 50 records in t/0 and 10 in u/1 across two commit-log segments, then a clean close. */
async function writeRecords(): Promise<Written> {
  const dir = await tempDir();
  const store = await openStore(dir, SMALL_SEGMENTS);
  for (let i = 0; i < 50; i++) await store.append(record('t', Buffer.alloc(7_000, i)));
  await store.append(batch('u', 9, 1));
  const lastRecord = record('u', 'm9', 1);
  await store.append(lastRecord); // patched in place: now byte for byte what is stored
  const end = store.maxOffset;
  expect(end).toBeGreaterThan(SMALL_SEGMENTS.segmentBytes);
  await store.close();
  return { dir, end, lastRecord };
}

async function lastSegment(dir: string): Promise<string> {
  return (await segmentFiles(join(dir, 'commitlog'))).at(-1)!;
}

async function expectIntactAndContinuing(store: MessageStore, end: number): Promise<void> {
  const t = await readAll(store, 't', 0);
  expect(t.map((m) => m.queueOffset)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  expect(t.every((m) => m.body.length === 7_000 && m.body.every((b) => b === m.queueOffset))).toBe(true);
  expect((await readAll(store, 'u', 1)).map((m) => m.body.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  const next = await store.append(record('t', 'after'));
  expect(next.commitLogOffsets).toEqual([end]);
  expect(next.queueOffsets).toEqual([50]);
  await waitForQueue(store, 't', 0, 51);
  expect((await store.read('t', 0, 50)).count).toBe(1);
}

describe('a torn last record', () => {
  it('cuts half a record off the tail after an unclean stop', async () => {
    const { dir, end, lastRecord } = await writeRecords();
    const half = Buffer.from(lastRecord.subarray(0, Math.floor(lastRecord.length / 2)));
    await appendFile(await lastSegment(dir), half);
    await writeFile(join(dir, 'abort'), '1');
    await rm(join(dir, 'checkpoint'));
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.recovery.unclean).toBe(true);
    expect(store.recovery.truncatedBytes).toBe(half.length);
    expect(store.recovery.logEnd).toBe(end);
    expect((await stat(await lastSegment(dir))).size).toBe(end % SMALL_SEGMENTS.segmentBytes);
    await expectIntactAndContinuing(store, end);
    await store.close();
  });

  it('cuts random garbage off the tail even when the checkpoint is intact', async () => {
    const { dir, end } = await writeRecords();
    const garbage = Buffer.alloc(5_000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) & 0xff;
    await appendFile(await lastSegment(dir), garbage);
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.recovery.truncatedBytes).toBe(garbage.length);
    await expectIntactAndContinuing(store, end);
    await store.close();
  });

  it('cuts a record whose tail bytes are zeros (a size was written, the rest never was)', async () => {
    const { dir, end, lastRecord } = await writeRecords();
    const torn = Buffer.alloc(lastRecord.length);
    lastRecord.copy(torn, 0, 0, 40);
    await appendFile(await lastSegment(dir), torn);
    await writeFile(join(dir, 'abort'), '1');
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.recovery.truncatedBytes).toBe(torn.length);
    await expectIntactAndContinuing(store, end);
    await store.close();
  });

  it('cuts a few stray bytes, too short to hold any record header', async () => {
    const { dir, end } = await writeRecords();
    await appendFile(await lastSegment(dir), Buffer.from([1, 2, 3, 4, 5]));
    await rm(join(dir, 'checkpoint'));
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.recovery.truncatedBytes).toBe(5);
    await expectIntactAndContinuing(store, end);
    await store.close();
  });
});
