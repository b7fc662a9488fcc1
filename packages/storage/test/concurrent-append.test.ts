import { describe, expect, it } from 'vitest';
import { concatRecords, decodeRecords } from '@litemq/protocol';
import type { AppendResult } from '../src/index.js';
import { SMALL_SEGMENTS, openStore, readAll, record, tempDir, waitForQueue } from './helpers.js';

interface Call {
  /** Order in which append() was called. */
  seq: number;
  topic: string;
  queueId: number;
  bodies: string[];
}

describe('concurrent appends', () => {
  for (const flushMode of ['async', 'sync'] as const) {
    it(`keeps order and dense offsets per queue with many appends in flight (${flushMode} flush)`, async () => {
      const dir = await tempDir();
      const store = await openStore(dir, { ...SMALL_SEGMENTS, flushMode });
      const queues: Array<[string, number]> = [['c1', 0], ['c1', 1], ['c2', 0], ['c3', 5]];
      const calls: Call[] = [];
      const pending: Array<Promise<AppendResult>> = [];
      const ackOrder: number[] = [];
      for (let seq = 0; seq < 600; seq++) {
        const [topic, queueId] = queues[seq % queues.length]!;
        const size = seq % 3 === 0 ? 1 + (seq % 7) : 1;
        const bodies = Array.from({ length: size }, (_, i) => `${seq}.${i}:${'x'.repeat((seq * 37) % 1500)}`);
        calls.push({ seq, topic, queueId, bodies });
        const promise = store.append(concatRecords(bodies.map((body) => record(topic, body, queueId))));
        pending.push(promise);
        void promise.then(() => ackOrder.push(seq));
        // Let some batches form while others are still being written.
        if (seq % 50 === 49) await pending[seq - 10];
      }
      const results = await Promise.all(pending);
      expect(results.every((result) => result.status === 'PUT_OK')).toBe(true);
      // Acknowledgements come back in call order.
      expect(ackOrder).toEqual(Array.from({ length: 600 }, (_, i) => i));

      for (const [topic, queueId] of queues) {
        const mine = calls.filter((call) => call.topic === topic && call.queueId === queueId);
        const offsets = mine.flatMap((call) => results[call.seq]!.queueOffsets);
        const logOffsets = mine.flatMap((call) => results[call.seq]!.commitLogOffsets);
        expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i));
        for (let i = 1; i < logOffsets.length; i++) expect(logOffsets[i]).toBeGreaterThan(logOffsets[i - 1]!);
        await waitForQueue(store, topic, queueId, offsets.length);
        const stored = await readAll(store, topic, queueId);
        expect(stored.map((m) => m.body.toString())).toEqual(mine.flatMap((call) => call.bodies));
        expect(stored.map((m) => m.commitLogOffset)).toEqual(logOffsets);
      }
      // Commit-log offsets of all calls are unique and increase in call order.
      const all = results.flatMap((result) => result.commitLogOffsets);
      for (let i = 1; i < all.length; i++) expect(all[i]).toBeGreaterThan(all[i - 1]!);
      expect(new Set(all).size).toBe(all.length);
      await store.close();
    });
  }

  it('rejects a malformed append on its own while its neighbours succeed', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const bad = record('c', 'bad');
    bad.writeUInt16BE(0, 8); // magic
    const settled = await Promise.allSettled([store.append(record('c', 'a')), store.append(bad), store.append(record('c', 'b'))]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await waitForQueue(store, 'c', 0, 2);
    const read = await store.read('c', 0, 0);
    expect(decodeRecords(read.records).map((m) => [m.queueOffset, m.body.toString()])).toEqual([[0, 'a'], [1, 'b']]);
    await store.close();
  });

  it('rejects appends after close and finishes those in flight first', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const inFlight = Array.from({ length: 20 }, (_, i) => store.append(record('c', `f${i}`)));
    const closing = store.close();
    await expect(store.append(record('c', 'late'))).rejects.toMatchObject({ code: 'STORE_CLOSED', retriable: true });
    const results = await Promise.all(inFlight);
    await closing;
    expect(results.map((result) => result.queueOffsets[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect((await readAll(reopened, 'c', 0)).length).toBe(20);
    await reopened.close();
  });
});
