import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, expectSuccess } from '@litemq/protocol';
import { batch, client, pull, readable, record, startBroker, tempDir, waitFor } from './helpers.js';

describe('consumer offsets', () => {
  it('commits, queries and keeps offsets across a broker restart', async () => {
    const dataDir = await tempDir();
    const first = await startBroker({ dataDir });
    const rpc = client();
    await rpc.request(first.address, RequestCode.SEND_BATCH, {}, batch('orders', 10, 2));
    await readable(first, 'orders', 2, 10);
    const commit = await rpc.request(first.address, RequestCode.COMMIT_OFFSET, {
      group: 'g1',
      offsets: [{ topic: 'orders', queueId: 2, offset: 7 }, { topic: 'unknown', queueId: 0, offset: 1 }],
    });
    expect(commit.code).toBe(ResponseCode.SUCCESS);
    expect(commit.header.committed).toBe(1);
    const query = expectSuccess(await rpc.request(first.address, RequestCode.QUERY_OFFSETS, { topic: 'orders', queueId: 2, group: 'g1' }));
    expect(query.header).toEqual({ minOffset: 0, maxOffset: 10, committedOffset: 7 });
    const none = expectSuccess(await rpc.request(first.address, RequestCode.QUERY_OFFSETS, { topic: 'orders', queueId: 2, group: 'other' }));
    expect(none.header.committedOffset).toBe(-1);
    // A commit sets the offset (it may move back), clamped to the queue's range.
    await rpc.request(first.address, RequestCode.COMMIT_OFFSET, { group: 'g2', offsets: [{ topic: 'orders', queueId: 2, offset: 1_000 }] });
    await rpc.request(first.address, RequestCode.COMMIT_OFFSET, { group: 'g3', offsets: [{ topic: 'orders', queueId: 2, offset: 9 }] });
    await rpc.request(first.address, RequestCode.COMMIT_OFFSET, { group: 'g3', offsets: [{ topic: 'orders', queueId: 2, offset: 4 }] });
    await first.close();

    const second = await startBroker({ dataDir });
    const after = async (group: string) =>
      expectSuccess(await rpc.request(second.address, RequestCode.QUERY_OFFSETS, { topic: 'orders', queueId: 2, group })).header.committedOffset;
    expect(await after('g1')).toBe(7);
    expect(await after('g2')).toBe(10);
    expect(await after('g3')).toBe(4);
  });

  it('persists offsets every offsetPersistIntervalMs', async () => {
    const broker = await startBroker({ offsetPersistIntervalMs: 20 });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('t', 3));
    await readable(broker, 't', 0, 3);
    await rpc.request(broker.address, RequestCode.COMMIT_OFFSET, { group: 'g', offsets: [{ topic: 't', queueId: 0, offset: 2 }] });
    const { readFile } = await import('node:fs/promises');
    await waitFor(async () => {
      const text = await readFile(broker.offsets.path, 'utf8').catch(() => '');
      return text.includes('"0": 2');
    }, 10_000, 'offsets file');
  });

  it('commits offsets piggy-backed on pulls and reports lag', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'lag', readQueueNums: 2, writeQueueNums: 2, perm: 6 });
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('lag', 5, 0));
    await readable(broker, 'lag', 0, 5);
    const reply = await pull(rpc, broker.address, { group: 'g', topic: 'lag', queueId: 0, offset: 3, commitOffset: 3 });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    const offsets = expectSuccess(await rpc.request(broker.address, RequestCode.GET_CONSUMER_OFFSETS, { group: 'g' }));
    expect(offsets.header).toEqual({
      group: 'g',
      queues: [
        { topic: 'lag', queueId: 0, minOffset: 0, maxOffset: 5, committedOffset: 3, lag: 2 },
        { topic: 'lag', queueId: 1, minOffset: 0, maxOffset: 0, committedOffset: -1, lag: 0 },
      ],
    });
    const missing = await rpc.request(broker.address, RequestCode.GET_CONSUMER_OFFSETS, { group: 'g', topic: 'nope' });
    expect(missing.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('finds offsets by store time', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('time', 3));
    await readable(broker, 'time', 0, 3);
    const middle = Date.now();
    await waitFor(() => Date.now() > middle, 1_000, 'the clock to move');
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('time', 'late'));
    await readable(broker, 'time', 0, 4);
    const at = async (timestamp: number) =>
      expectSuccess(await rpc.request(broker.address, RequestCode.QUERY_OFFSET_BY_TIME, { topic: 'time', queueId: 0, timestamp })).header.offset;
    expect(await at(0)).toBe(0);
    expect(await at(middle + 1)).toBe(3);
    expect(await at(Date.now() + 60_000)).toBe(4);
    const missing = await rpc.request(broker.address, RequestCode.QUERY_OFFSET_BY_TIME, { topic: 'nope', queueId: 0, timestamp: 0 });
    expect(missing.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });
});
