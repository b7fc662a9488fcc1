import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { RECORD_HEADER_BYTES, RECORD_MAGIC, RECORD_VERSION, RecordField, concatRecords, readU64, writeU64 } from '@litemq/protocol';
import type { CommitLog } from '../src/commit-log.js';
import { SMALL_SEGMENTS, readAll, record, segmentFiles, tempDir, waitForQueue, openStore } from './helpers.js';

const END_OF_SEGMENT_MAGIC = 0x4c42;

/** A deterministic body of 200-3000 bytes that names its topic, queue and sequence number. */
function body(topic: string, queueId: number, seq: number): string {
  return `${topic}/${queueId}#${seq}:`.padEnd(200 + ((seq * 7919) % 2800), String.fromCharCode(97 + (seq % 26)));
}

describe('round trips and segment rolls', () => {
  it('stores many records of several topics and queues across commit-log and consume-queue segments', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const topics = ['alpha', 'beta', 'gamma'];
    const perQueue = 120;
    const commitLogOffsets = new Map<string, number[]>();
    for (let seq = 0; seq < perQueue; seq++) {
      for (const topic of topics) {
        for (let queueId = 0; queueId < 2; queueId++) {
          const result = await store.append(record(topic, body(topic, queueId, seq), queueId, { tags: `tag${seq % 3}`, keys: `k-${topic}-${queueId}-${seq}` }));
          expect(result.status).toBe('PUT_OK');
          expect(result.queueOffsets).toEqual([seq]);
          const key = `${topic}/${queueId}`;
          commitLogOffsets.set(key, [...(commitLogOffsets.get(key) ?? []), result.commitLogOffsets[0]!]);
        }
      }
    }
    for (const topic of topics) for (let queueId = 0; queueId < 2; queueId++) await waitForQueue(store, topic, queueId, perQueue);

    // ~720 records of ~1.8 KiB average: several 256 KiB commit-log segments, every queue rolls 32-entry segments.
    const logSegments = await segmentFiles(join(dir, 'commitlog'));
    expect(logSegments.length).toBeGreaterThanOrEqual(4);
    expect((await segmentFiles(join(dir, 'consumequeue', 'alpha', '0'))).length).toBe(Math.ceil(perQueue / 32));

    for (const topic of topics) {
      for (let queueId = 0; queueId < 2; queueId++) {
        const messages = await readAll(store, topic, queueId);
        expect(messages.map((m) => m.body.toString())).toEqual(Array.from({ length: perQueue }, (_, seq) => body(topic, queueId, seq)));
        expect(messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: perQueue }, (_, i) => i));
        expect(messages.map((m) => m.commitLogOffset)).toEqual(commitLogOffsets.get(`${topic}/${queueId}`));
        expect(messages.every((m) => m.topic === topic && m.queueId === queueId)).toBe(true);
      }
    }

    // No record spans two segments, and every full segment ends with an end-of-segment marker.
    for (const offsets of commitLogOffsets.values()) {
      for (const offset of offsets) {
        const stored = await store.readRecordAt(offset);
        expect(stored).toBeDefined();
        const start = offset - (offset % SMALL_SEGMENTS.segmentBytes);
        expect(offset + stored!.length).toBeLessThanOrEqual(start + SMALL_SEGMENTS.segmentBytes);
      }
    }
    const allOffsets = [...commitLogOffsets.values()].flat().sort((a, b) => a - b);
    for (const file of logSegments.slice(0, -1)) {
      expect((await stat(file)).size).toBe(SMALL_SEGMENTS.segmentBytes);
      const bytes = await readFile(file);
      const start = Number(file.slice(-20));
      const lastRecord = allOffsets.filter((offset) => offset < start + SMALL_SEGMENTS.segmentBytes).at(-1)!;
      const size = bytes.readUInt32BE(lastRecord - start);
      const padAt = lastRecord - start + size;
      expect(bytes.readUInt32BE(padAt)).toBe(SMALL_SEGMENTS.segmentBytes - padAt);
      expect(bytes.readUInt16BE(padAt + RecordField.MAGIC)).toBe(END_OF_SEGMENT_MAGIC);
    }
    await store.close();
  });

  it('reads a batch spanning a commit-log segment boundary and a consume-queue segment boundary in pieces', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const records = Array.from({ length: 40 }, (_, i) => record('span', Buffer.alloc(20_000, i), 0));
    const result = await store.append(concatRecords(records));
    expect(result.queueOffsets).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const segmentsTouched = new Set(result.commitLogOffsets.map((offset) => Math.floor(offset / SMALL_SEGMENTS.segmentBytes)));
    expect(segmentsTouched.size).toBeGreaterThanOrEqual(3);
    await waitForQueue(store, 'span', 0, 40);

    const first = await store.read('span', 0, 0, { maxCount: 64 });
    expect(first.status).toBe('FOUND');
    // A read stops at the end of a consume-queue segment (32 entries) and says where to go on.
    expect(first.count).toBe(32);
    expect(first.nextOffset).toBe(32);
    const second = await store.read('span', 0, first.nextOffset, { maxCount: 64 });
    expect(second.count).toBe(8);
    expect(second.nextOffset).toBe(40);

    const messages = await readAll(store, 'span', 0);
    expect(messages.map((m) => m.body[0])).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(messages.map((m) => m.commitLogOffset)).toEqual(result.commitLogOffsets);
    for (let i = 1; i < messages.length; i++) {
      const previous = messages[i - 1]!;
      const sameSegment = Math.floor(previous.commitLogOffset / SMALL_SEGMENTS.segmentBytes) === Math.floor(messages[i]!.commitLogOffset / SMALL_SEGMENTS.segmentBytes);
      if (sameSegment) expect(messages[i]!.commitLogOffset).toBe(previous.commitLogOffset + records[i - 1]!.length);
      else expect(messages[i]!.commitLogOffset % SMALL_SEGMENTS.segmentBytes).toBe(0);
    }
    const stored = await store.readRecordAt(result.commitLogOffsets[39]!);
    expect(stored && readU64(stored, RecordField.QUEUE_OFFSET)).toBe(39);
    await store.close();
  });

  it('reads no forged size at a client-chosen offset: a header must name its own offset and fit its body length', async () => {
    const dir = await tempDir();
    // Segments larger than any record (as the 1 GiB default is): only the record limits bound what may be read.
    const store = await openStore(dir, { segmentBytes: 16 * 1024 * 1024 });
    // A body that starts with a record header claiming 12 MiB, with its own (predictable) commit-log offset in it.
    const claimed = 12 * 1024 * 1024;
    const forged = Buffer.alloc(RECORD_HEADER_BYTES + 64);
    forged.writeUInt32BE(claimed, RecordField.TOTAL_SIZE);
    forged.writeUInt16BE(RECORD_MAGIC, RecordField.MAGIC);
    forged[RecordField.VERSION] = RECORD_VERSION;
    forged.writeUInt32BE(64, RecordField.BODY_LENGTH);
    writeU64(forged, RecordField.COMMIT_LOG_OFFSET, RECORD_HEADER_BYTES);
    const [offset] = (await store.append(record('forge', forged))).commitLogOffsets;
    expect(offset).toBe(0);
    const log = (store as unknown as { log: CommitLog }).log;
    const read = vi.spyOn(log, 'read');
    expect(await store.readRecordAt(RECORD_HEADER_BYTES)).toBeUndefined();
    // A header that does not name its own offset is not trusted for a size either.
    expect(await store.readRecordAt(RECORD_HEADER_BYTES + 8)).toBeUndefined();
    expect(Math.max(...read.mock.calls.map(([, length]) => length))).toBe(RECORD_HEADER_BYTES);
    expect(await store.readRecordAt(0)).toBeDefined();
    await store.close();
  });

  it('respects maxBytes but always returns at least one record', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await store.append(concatRecords(Array.from({ length: 5 }, (_, i) => record('bytes', Buffer.alloc(10_000, i)))));
    await waitForQueue(store, 'bytes', 0, 5);
    const one = await store.read('bytes', 0, 0, { maxBytes: 100 });
    expect(one.count).toBe(1);
    expect(one.nextOffset).toBe(1);
    const three = await store.read('bytes', 0, 1, { maxBytes: 31_000 });
    expect(three.count).toBe(3);
    expect(three.nextOffset).toBe(4);
    await store.close();
  });
});
