import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordField } from '@litemq/protocol';
import type { MessageStore } from '../src/index.js';
import { SMALL_SEGMENTS, flipByte, logPosition, readAll, record, tempDir, waitForQueue, openStore } from './helpers.js';

interface Written {
  dir: string;
  commitLogOffsets: number[];
  sizes: number[];
}

/** 60 records of ~9 KiB in queue t/0 (they span three commit-log segments), then a clean close. */
async function writeRecords(): Promise<Written> {
  const dir = await tempDir();
  const store = await openStore(dir, SMALL_SEGMENTS);
  const commitLogOffsets: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < 60; i++) {
    const buf = record('t', Buffer.alloc(9_000, i), 0);
    sizes.push(buf.length);
    commitLogOffsets.push((await store.append(buf)).commitLogOffsets[0]!);
    if (i % 7 === 0) await store.append(record('other', `o${i}`, 0));
  }
  await store.close();
  return { dir, commitLogOffsets, sizes };
}

type Where = 'body' | 'header size' | 'header queue offset' | 'header store time' | 'trailer';

function fieldOffset(where: Where, size: number): number {
  switch (where) {
    case 'body':
      return RecordField.BODY + 4_500;
    case 'header size':
      return RecordField.TOTAL_SIZE + 2;
    case 'header queue offset':
      return RecordField.QUEUE_OFFSET + 7;
    case 'header store time':
      return RecordField.STORE_TIMESTAMP + 6;
    case 'trailer':
      return size - 3; // inside the topic/tags/keys/properties trailer
  }
}

async function expectAllButCorrupt(store: MessageStore, corrupt: readonly number[]): Promise<void> {
  const messages = await readAll(store, 't', 0);
  const expected = Array.from({ length: 60 }, (_, i) => i).filter((i) => !corrupt.includes(i));
  expect(messages.map((m) => m.queueOffset)).toEqual(expected);
  expect(messages.every((m) => m.body.length === 9_000 && m.body.every((b) => b === m.queueOffset))).toBe(true);
  expect((await readAll(store, 'other', 0)).length).toBe(9);
}

async function expectOffsetsContinue(store: MessageStore, lastCommitLogOffset: number): Promise<void> {
  const next = await store.append(record('t', 'after', 0));
  expect(next.queueOffsets).toEqual([60]);
  expect(next.commitLogOffsets[0]).toBeGreaterThan(lastCommitLogOffset);
  await waitForQueue(store, 't', 0, 61);
  const tail = await store.read('t', 0, 60);
  expect(tail.count).toBe(1);
}

const PLACES: Where[] = ['body', 'header size', 'header queue offset', 'header store time', 'trailer'];

describe('a flipped byte inside a record', () => {
  for (const where of PLACES) {
    for (const victim of [17, 59]) {
      it(`is never served when the ${where} of record ${victim} is hit behind the checkpoint (read-time check)`, async () => {
        const { dir, commitLogOffsets, sizes } = await writeRecords();
        const { file, position } = logPosition(dir, SMALL_SEGMENTS.segmentBytes, commitLogOffsets[victim]!);
        await flipByte(file, position + fieldOffset(where, sizes[victim]!));
        const store = await openStore(dir, SMALL_SEGMENTS);
        expect(store.recovery.scannedBytes).toBe(0);
        await expectAllButCorrupt(store, [victim]);
        expect(await store.readRecordAt(commitLogOffsets[victim]!)).toBeUndefined();
        await expectOffsetsContinue(store, commitLogOffsets[59]!);
        await store.close();
      });

      it(`is skipped by recovery when the ${where} of record ${victim} is hit in the scanned region`, async () => {
        const { dir, commitLogOffsets, sizes } = await writeRecords();
        const { file, position } = logPosition(dir, SMALL_SEGMENTS.segmentBytes, commitLogOffsets[victim]!);
        await flipByte(file, position + fieldOffset(where, sizes[victim]!));
        await rm(join(dir, 'checkpoint'));
        const store = await openStore(dir, SMALL_SEGMENTS);
        expect(store.recovery.scannedFrom).toBe(0);
        if (store.recovery.truncatedBytes > 0) {
          // Structural damage to the very last record of the log is indistinguishable from a torn tail.
          expect(victim).toBe(59);
          expect(store.recovery.truncatedBytes).toBe(sizes[59]);
          expect(store.recovery.logEnd).toBe(commitLogOffsets[59]);
        } else {
          expect(store.recovery.corruptRecords).toBeGreaterThanOrEqual(1);
        }
        await expectAllButCorrupt(store, [victim]);
        await expectOffsetsContinue(store, store.recovery.logEnd - 1);
        await store.close();
        // And a second restart (with a checkpoint again) keeps the same picture.
        const again = await openStore(dir, SMALL_SEGMENTS);
        expect((await readAll(again, 't', 0)).length).toBe(60);
        await again.close();
      });
    }
  }

  it('is skipped when the consume queue must be rebuilt around it', async () => {
    const { dir, commitLogOffsets } = await writeRecords();
    const { file, position } = logPosition(dir, SMALL_SEGMENTS.segmentBytes, commitLogOffsets[30]!);
    await flipByte(file, position + RecordField.BODY + 10);
    await rm(join(dir, 'consumequeue', 't'), { recursive: true });
    const store = await openStore(dir, SMALL_SEGMENTS);
    expect(store.recovery.rebuiltQueues).toContain('t/0');
    await expectAllButCorrupt(store, [30]);
    await expectOffsetsContinue(store, commitLogOffsets[59]!);
    await store.close();
  });
});
