import { describe, expect, it } from 'vitest';
import { decodeRecords, tagHash } from '@litemq/protocol';
import { MessageStore, StorageError } from '../src/index.js';
import { batch, record, tempDir } from './helpers.js';

describe('MessageStore', () => {
  it('appends and reads back through the consume queue', async () => {
    const dir = await tempDir();
    const store = await MessageStore.open(dir, { segmentBytes: 1024 * 1024 + 65 * 1024, maxBodyBytes: 1024 * 1024 });
    const result = await store.append(batch('orders', 10, 2));
    expect(result.status).toBe('PUT_OK');
    expect(result.queueOffsets).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await store.append(record('orders', 'eleventh', 2));
    await waitForQueue(store, 'orders', 2, 11);
    const read = await store.read('orders', 2, 0, { maxCount: 100 });
    expect(read.status).toBe('FOUND');
    expect(read.count).toBe(11);
    const messages = decodeRecords(read.records);
    expect(messages.map((m) => m.body.toString())).toEqual([...Array.from({ length: 10 }, (_, i) => `m${i}`), 'eleventh']);
    expect(messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(read.nextOffset).toBe(11);
    expect((await store.read('orders', 2, 11)).status).toBe('NO_NEW_MESSAGE');
    expect((await store.read('orders', 2, 12)).status).toBe('OFFSET_OVERFLOW');
    expect((await store.read('nope', 0, 0)).status).toBe('NO_QUEUE');
    await store.close();
  });

  it('filters by tag hash and finds messages by id and key', async () => {
    const dir = await tempDir();
    const store = await MessageStore.open(dir);
    await store.append(record('t', 'a', 0, { tags: 'red', keys: ['k1'] }));
    await store.append(record('t', 'b', 0, { tags: 'blue', keys: ['k2', 'shared'] }));
    const last = record('t', 'c', 0, { tags: 'red', keys: 'shared' });
    await store.append(last);
    await waitForQueue(store, 't', 0, 3);
    const red = await store.read('t', 0, 0, { tagHashes: new Set([tagHash('red')]) });
    expect(decodeRecords(red.records).map((m) => m.body.toString())).toEqual(['a', 'c']);
    expect(red.nextOffset).toBe(3);
    const id = decodeRecords(last)[0]!.msgId;
    const byId = await store.getMessageById(id);
    expect(byId && decodeRecords(byId)[0]!.body.toString()).toBe('c');
    const shared = await store.queryByKey('t', 'shared');
    expect(shared.map((r) => decodeRecords(r)[0]!.body.toString()).sort()).toEqual(['b', 'c']);
    expect(await store.queryByKey('other', 'shared')).toEqual([]);
    await store.close();
  });

  it('rejects malformed input without losing stored data', async () => {
    const dir = await tempDir();
    const store = await MessageStore.open(dir);
    await store.append(batch('t', 3));
    const bad = record('t', 'x');
    bad.writeUInt32BE(bad.length + 10, 0);
    await expect(store.append(bad)).rejects.toMatchObject({ code: 'RECORD_MALFORMED' });
    const traversal = record('t', 'x');
    traversal.write('.', traversal.length - 7, 'latin1'); // topic "t" -> "." right before tags/keys/props
    await expect(store.append(traversal)).rejects.toBeDefined();
    await store.append(batch('t', 2, 0, 'n'));
    await waitForQueue(store, 't', 0, 5);
    expect((await store.read('t', 0, 0, { maxCount: 10 })).count).toBe(5);
    await store.close();
    await expect(store.append(batch('t', 1))).rejects.toBeInstanceOf(StorageError);
  });
});

export async function waitForQueue(store: MessageStore, topic: string, queueId: number, maxOffset: number): Promise<void> {
  while ((store.queueOffsets(topic, queueId)?.maxOffset ?? 0) < maxOffset) {
    await new Promise<void>((resolve) => {
      const off = store.onMessagesAvailable(() => {
        off();
        resolve();
      });
      setTimeout(resolve, 50); // re-check in case the write completed before we subscribed
    });
  }
}
