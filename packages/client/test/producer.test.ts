import { ResponseCode, RequestCode, RpcClient, decodeRecord } from '@litemq/protocol';

const originalRequest = RpcClient.prototype.request;
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Producer } from '../src/index.js';
import type { ProducerOptions } from '../src/index.js';
import { startCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { brokers?: number; queueNums?: number; producer?: Partial<ProducerOptions> } = {}) {
  const cluster = await startCluster({ brokers: options.brokers ?? 1, topics: ['orders'], queueNums: options.queueNums ?? 4 });
  cleanups.push(() => cluster.close());
  const producer = new Producer({ nameServers: [cluster.nameServer.address], group: 'pg', ...options.producer });
  cleanups.push(() => producer.close());
  await producer.start();
  return { cluster, producer };
}

describe('Producer', () => {
  it('sends a message and reports where it was stored', async () => {
    const { cluster, producer } = await setup();
    const result = await producer.send({ topic: 'orders', body: 'hello', tags: 'new', keys: ['k1'] });
    expect(result).toMatchObject({ topic: 'orders', brokerName: 'broker-a', queueOffset: 0, status: 'SEND_OK' });
    expect(result.msgId).toMatch(/^[0-9A-F]{32}$/);
    const stored = cluster.brokers[0]!.queue('orders', result.queueId)[0]!;
    const decoded = decodeRecord(stored.record);
    expect(decoded).toMatchObject({ msgId: result.msgId, queueId: result.queueId, tags: 'new', keys: ['k1'] });
    expect(decoded.body.toString()).toBe('hello');
    expect(cluster.brokers[0]!.sendFrames[0]).toMatchObject({ code: RequestCode.SEND_MESSAGE, producerGroup: 'pg', count: 1 });
  });

  it('coalesces concurrent sends into few frames and gives each caller its own offset', async () => {
    const { cluster, producer } = await setup({ queueNums: 2 });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}` })));
    const frames = cluster.brokers[0]!.sendFrames;
    expect(frames.reduce((n, f) => n + f.count, 0)).toBe(1000);
    expect(frames.length).toBeLessThanOrEqual(10);
    // Offsets are dense per queue and every message landed at the offset it was told.
    for (const queueId of [0, 1]) {
      const stored = cluster.brokers[0]!.queue('orders', queueId);
      const mine = results.filter((r) => r.queueId === queueId).sort((a, b) => a.queueOffset - b.queueOffset);
      expect(mine.map((r) => r.queueOffset)).toEqual(mine.map((_, i) => i));
      for (const r of mine) expect(decodeRecord(stored[r.queueOffset]!.record).msgId).toBe(r.msgId);
    }
    expect(new Set(results.map((r) => r.msgId)).size).toBe(1000);
  });

  it('round-robins over the queues of every broker', async () => {
    const { producer } = await setup({ brokers: 2, queueNums: 2 });
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await producer.send({ topic: 'orders', body: `m${i}` }));
    const counts = new Map<string, number>();
    for (const r of results) counts.set(`${r.brokerName}:${r.queueId}`, (counts.get(`${r.brokerName}:${r.queueId}`) ?? 0) + 1);
    expect([...counts.values()]).toEqual([2, 2, 2, 2]);
  });

  it('sends messages with the same sharding key to the same queue', async () => {
    const { producer } = await setup({ brokers: 2, queueNums: 4 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}`, shardingKey: 'order-42' })));
    expect(new Set(results.map((r) => `${r.brokerName}:${r.queueId}`)).size).toBe(1);
    const offsets = results.map((r) => r.queueOffset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('retries a retriable failure on another broker', async () => {
    const { cluster, producer } = await setup({ brokers: 2, queueNums: 2, producer: { retries: 1 } });
    const [a, b] = cluster.brokers;
    a!.failSends = { count: 1000, code: ResponseCode.SYSTEM_BUSY };
    // Round-robin sends half of the first attempts to broker-a; with one retry allowed, each must land on broker-b.
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await producer.send({ topic: 'orders', body: `m${i}` }));
    expect(results.every((r) => r.brokerName === 'broker-b' && r.status === 'SEND_OK')).toBe(true);
    expect(a!.sendFrames.length).toBeGreaterThan(0);
    expect(a!.queues.size).toBe(0);
    expect(b!.bodies('orders')).toHaveLength(8);
  });

  it('retries with a copy of the record, leaving the bytes of the earlier frame as they were sent', async () => {
    const { cluster, producer } = await setup({ brokers: 2, queueNums: 2, producer: { retries: 2 } });
    await producer.send({ topic: 'orders', body: 'warm the route' });
    const sent: Array<{ record: Buffer; bytes: Buffer }> = [];
    const request = vi.spyOn(RpcClient.prototype, 'request').mockImplementation(function (this: RpcClient, address, code, header, body, options) {
      if (code === RequestCode.SEND_MESSAGE && Array.isArray(body)) for (const record of body as Buffer[]) sent.push({ record, bytes: Buffer.from(record) });
      return originalRequest.call(this, address, code, header, body, options);
    });
    cleanups.push(async () => request.mockRestore());
    for (const broker of cluster.brokers) broker.failSends = { count: 1, code: ResponseCode.SYSTEM_BUSY };
    const result = await producer.send({ topic: 'orders', body: 'once' });
    expect(result.status).toBe('SEND_OK');
    // Both brokers refuse once: the first attempt and the first retry fail, the second retry is stored.
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.record)).size).toBe(3);
    for (const { record, bytes } of sent) expect(record.equals(bytes)).toBe(true);
  });

  it('keeps a send to a topic the broker refuses out of the frames of other topics', async () => {
    const { cluster, producer } = await setup({ queueNums: 2 });
    cluster.brokers[0]!.addTopic('audit', 2);
    await Promise.all([producer.send({ topic: 'audit', body: 'warm the route' }), producer.send({ topic: 'orders', body: 'warm the route' })]);
    cluster.brokers[0]!.topics.delete('audit');
    const before = cluster.brokers[0]!.sendFrames.length;
    const good = Array.from({ length: 10 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}` }));
    const refused = producer.send({ topic: 'audit', body: 'refused' });
    await expect(refused).rejects.toMatchObject({ retriable: false });
    expect((await Promise.all(good)).every((r) => r.status === 'SEND_OK')).toBe(true);
    const frames = cluster.brokers[0]!.sendFrames.slice(before);
    for (const frame of frames) expect(new Set(frame.topics).size).toBe(1);
    // Each 'orders' message went out once: none was failed (and resent) with the refused topic's frame.
    expect(frames.flatMap((frame) => frame.topics).filter((topic) => topic === 'orders')).toHaveLength(10);
  });

  it('gives up after `retries` extra attempts and rejects with the typed error', async () => {
    const { cluster, producer } = await setup({ brokers: 2, producer: { retries: 1 } });
    for (const broker of cluster.brokers) broker.failSends = { count: 100, code: ResponseCode.DISK_FULL };
    await expect(producer.send({ topic: 'orders', body: 'x' })).rejects.toMatchObject({ name: 'RemoteError', code: 'DISK_FULL', retriable: true });
    expect(cluster.brokers.reduce((n, b) => n + b.sendFrames.length, 0)).toBe(2);
  });

  it('does not retry non-retriable errors', async () => {
    const { cluster, producer } = await setup({ brokers: 2 });
    for (const broker of cluster.brokers) broker.failSends = { count: 1, code: ResponseCode.NO_PERMISSION };
    await expect(producer.send({ topic: 'orders', body: 'x' })).rejects.toMatchObject({ code: 'NO_PERMISSION', retriable: false });
    expect(cluster.brokers.reduce((n, b) => n + b.sendFrames.length, 0)).toBe(1);
  });

  it('fails only the invalid message of a burst, before anything is sent', async () => {
    const { cluster, producer } = await setup({ producer: { maxMessageBytes: 1000 } });
    const outcomes = await Promise.allSettled([
      producer.send({ topic: 'orders', body: 'ok-1' }),
      producer.send({ topic: 'orders', body: 'x'.repeat(2000) }),
      producer.send({ topic: 'bad topic!', body: 'x' }),
      producer.send({ topic: 'orders', body: 'ok-2' }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ name: 'ProtocolError', code: 'MESSAGE_TOO_LARGE' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ name: 'ProtocolError', code: 'TOPIC_NAME_INVALID' });
    expect(cluster.brokers[0]!.bodies('orders').sort()).toEqual(['ok-1', 'ok-2']);
  });

  it('rejects sends to an unknown topic with TOPIC_NOT_EXIST', async () => {
    const { producer } = await setup();
    await expect(producer.send({ topic: 'nope', body: 'x' })).rejects.toMatchObject({ code: 'TOPIC_NOT_EXIST', retriable: false });
  });

  it('refreshes the route and retries once when a broker no longer has the topic', async () => {
    const { cluster, producer } = await setup({ brokers: 2, queueNums: 2 });
    await producer.send({ topic: 'orders', body: 'warm the route' });
    cluster.brokers[0]!.topics.delete('orders'); // broker-a dropped it; the NameServer route follows
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}` })));
    expect(results.every((r) => r.brokerName === 'broker-b')).toBe(true);
  });

  it('sends a batch in one SEND_BATCH frame to one queue', async () => {
    const { cluster, producer } = await setup();
    const results = await producer.sendBatch([1, 2, 3].map((i) => ({ topic: 'orders', body: `b${i}` })));
    expect(results.map((r) => r.queueOffset)).toEqual([0, 1, 2]);
    expect(new Set(results.map((r) => r.queueId)).size).toBe(1);
    expect(cluster.brokers[0]!.sendFrames).toEqual([expect.objectContaining({ code: RequestCode.SEND_BATCH, count: 3 })]);
    await expect(producer.sendBatch([{ topic: 'orders', body: 'a' }, { topic: 'other', body: 'b' }])).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('sends oneway messages without waiting for a response', async () => {
    const { cluster, producer } = await setup();
    await producer.sendOneway({ topic: 'orders', body: 'fire and forget' });
    await waitFor(() => cluster.brokers[0]!.bodies('orders').length === 1, 5000, 'oneway message stored');
    expect(cluster.brokers[0]!.bodies('orders')).toEqual(['fire and forget']);
  });

  it('reports stored-but-unconfirmed statuses without retrying', async () => {
    const { cluster, producer } = await setup();
    cluster.brokers[0]!.sendStatus = ResponseCode.FLUSH_DISK_TIMEOUT;
    const result = await producer.send({ topic: 'orders', body: 'x' });
    expect(result.status).toBe('FLUSH_DISK_TIMEOUT');
    expect(cluster.brokers[0]!.sendFrames).toHaveLength(1);
  });

  it('close() drains sends in flight, then rejects new ones', async () => {
    const { cluster, producer } = await setup();
    const broker = cluster.brokers[0]!;
    broker.holdSends = true;
    const pending = Array.from({ length: 5 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}` }));
    await waitFor(() => broker.heldSends > 0, 5000, 'send frame held');
    let closed = false;
    const closing = producer.close().then(() => (closed = true));
    await expect(producer.send({ topic: 'orders', body: 'late' })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(closed).toBe(false);
    broker.releaseSends();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(Array(5).fill('SEND_OK'));
    await closing;
    expect(closed).toBe(true);
  });

  it('rejects sends before start() and aborts on signal', async () => {
    const cluster = await startCluster({ topics: ['orders'] });
    cleanups.push(() => cluster.close());
    const producer = new Producer({ nameServers: [cluster.nameServer.address] });
    cleanups.push(() => producer.close());
    await expect(producer.send({ topic: 'orders', body: 'x' })).rejects.toMatchObject({ code: 'NOT_STARTED' });
    await producer.start();
    cluster.brokers[0]!.holdSends = true;
    const controller = new AbortController();
    const pending = producer.send({ topic: 'orders', body: 'x' }, { signal: controller.signal });
    await waitFor(() => cluster.brokers[0]!.heldSends > 0, 5000, 'send frame held');
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    cluster.brokers[0]!.releaseSends();
  });

  it('uses the next NameServer when one is down', async () => {
    const cluster = await startCluster({ topics: ['orders'] });
    cleanups.push(() => cluster.close());
    await using producer = new Producer({ nameServers: ['127.0.0.1:1', cluster.nameServer.address] });
    await producer.start();
    expect((await producer.send({ topic: 'orders', body: 'x' })).status).toBe('SEND_OK');
  });

  it('validates its options', () => {
    expect(() => new Producer({ nameServers: [] })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => new Producer({ nameServers: ['a:1'], retries: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => new Producer({ nameServers: ['a:1'], group: 'bad group' })).toThrow(expect.objectContaining({ code: 'GROUP_NAME_INVALID' }));
  });
});
