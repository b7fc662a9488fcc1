import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Frame, FrameHeader, RpcReply } from '@litemq/protocol';
import { RequestCode, ResponseCode, SystemProperty, encodeReceiptHandle, encodeRecord, parseReceiptHandle, rpcFailure } from '@litemq/protocol';
import { SimpleConsumer } from '../src/index.js';
import type { FakeBroker } from './fake-cluster.js';
import { startCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** POP / ACK / CHANGE_INVISIBLE_TIME on a fake broker: pops what the test queued, answers acks as told. */
class FakePop {
  readonly pops: FrameHeader[] = [];
  readonly acks: FrameHeader[] = [];
  readonly changes: FrameHeader[] = [];
  readonly ready: Buffer[] = [];
  /** Handles the broker answers RECEIPT_HANDLE_EXPIRED for. */
  readonly expired = new Set<string>();
  private waiters: Array<() => void> = [];
  private offset = 0;

  constructor(private readonly broker: FakeBroker) {
    broker.server.register(RequestCode.POP_MESSAGE, (frame) => this.pop(frame));
    broker.server.register(RequestCode.ACK_MESSAGE, (frame) => {
      this.acks.push({ ...frame.header });
      if (this.expired.has(frame.header.handle as string)) throw rpcFailure(ResponseCode.RECEIPT_HANDLE_EXPIRED, 'became visible again');
      return { header: { msgId: 'X' } };
    });
    broker.server.register(RequestCode.CHANGE_INVISIBLE_TIME, (frame) => {
      this.changes.push({ ...frame.header });
      const invisibleUntil = Date.now() + (frame.header.invisibleMs as number);
      return { header: { handle: this.handle(invisibleUntil), invisibleUntil, msgId: 'X' } };
    });
  }

  handle(invisibleUntil: number): string {
    return encodeReceiptHandle({ brokerName: this.broker.brokerName, checkpointOffset: this.offset++, checkpointId: randomBytes(16).toString('hex'), invisibleUntil });
  }

  push(...records: Buffer[]): void {
    this.ready.push(...records);
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async pop(frame: Frame): Promise<RpcReply> {
    this.pops.push({ ...frame.header });
    const { maxCount, invisibleMs, pollMs } = frame.header as { maxCount: number; invisibleMs: number; pollMs: number };
    if (this.ready.length === 0 && pollMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const records = this.ready.splice(0, maxCount);
    const invisibleUntil = Date.now() + invisibleMs;
    return {
      header: { count: records.length, handles: records.map(() => this.handle(invisibleUntil)), invisibleUntil, brokerName: this.broker.brokerName },
      body: records.length > 0 ? Buffer.concat(records) : undefined,
    };
  }
}

async function setup(brokers = 2) {
  const cluster = await startCluster({ brokers, topics: ['orders'], queueNums: 2 });
  cleanups.push(() => cluster.close());
  const pops = cluster.brokers.map((broker) => new FakePop(broker));
  const consumer = new SimpleConsumer({ nameServers: [cluster.nameServer.address], group: 'workers', awaitDurationMs: 2_000, maxReconsumeTimes: 3 });
  cleanups.push(() => consumer.close());
  return { cluster, pops, consumer };
}

describe('SimpleConsumer', () => {
  it('validates its options and calls', async () => {
    expect(() => new SimpleConsumer({ nameServers: ['127.0.0.1:1'], group: 'bad group' })).toThrow(expect.objectContaining({ code: 'GROUP_NAME_INVALID' }) as Error);
    // No room for `%RETRY%<group>` in a topic name, or a system-looking name: refused before anything is sent.
    for (const group of ['g'.repeat(121), '%X%y']) {
      expect(() => new SimpleConsumer({ nameServers: ['127.0.0.1:1'], group })).toThrow(expect.objectContaining({ code: 'GROUP_NAME_INVALID' }) as Error);
    }
    expect(new SimpleConsumer({ nameServers: ['127.0.0.1:1'], group: 'g'.repeat(120) }).group.length).toBe(120);
    expect(() => new SimpleConsumer({ nameServers: [], group: 'g' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as Error);
    expect(() => new SimpleConsumer({ nameServers: ['127.0.0.1:1'], group: 'g', awaitDurationMs: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as Error);
    const idle = new SimpleConsumer({ nameServers: ['127.0.0.1:1'], group: 'g' });
    await expect(idle.receive()).rejects.toMatchObject({ code: 'NOT_STARTED' });
    await expect(idle.start()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(() => idle.subscribe('orders', 'a || ')).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as Error);
    await idle.close();
    await expect(idle.receive()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });

    const { consumer } = await setup(1);
    consumer.subscribe('orders');
    await consumer.start();
    await expect(consumer.receive(0, 1_000)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(consumer.receive(1, 50)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(consumer.receive(1, 13 * 3_600_000)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(consumer.ack('not-a-handle')).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_INVALID' });
    await expect(consumer.changeInvisibleDuration('P1:broker-a:1:0123456789ABCDEF0123456789ABCDEF:1', 10)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('sends its subscriptions and filters, sweeps every broker and waits on the last, and decodes pops', async () => {
    const { pops, consumer, cluster } = await setup(2);
    consumer.subscribe('orders', { tags: 'paid || refunded', sql: "region = 'eu'" });
    await consumer.start();
    // Announced to both brokers.
    for (const broker of cluster.brokers) expect(broker.heartbeats[0]).toMatchObject({ consumers: [{ group: 'workers', consumeType: 'POP', maxReconsumeTimes: 3, subscriptions: [{ topic: 'orders', sql: "region = 'eu'" }] }] });

    const startedAt = Date.now();
    expect(await consumer.receive(4, 5_000)).toEqual([]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_900);
    const [a, b] = [pops[0]!.pops, pops[1]!.pops];
    expect(a.length + b.length).toBe(2);
    const quick = a.length === 1 && a[0]!.pollMs === 0 ? a[0]! : b[0]!;
    const held = quick === a[0] ? b[0]! : a[0]!;
    expect(quick.pollMs).toBe(0);
    expect(held.pollMs).toBe(2_000);
    expect(held).toMatchObject({
      group: 'workers', maxCount: 4, invisibleMs: 5_000, fromWhere: 'LAST_OFFSET', maxReconsumeTimes: 3,
      subscriptions: [{ topic: 'orders', tags: ['paid', 'refunded'], sql: "region = 'eu'" }],
    });

    // A redelivery reads as the original message; the handle routes back to its broker.
    pops[1]!.push(
      encodeRecord({ topic: 'orders', body: 'first', tags: 'paid' }, { queueId: 1 }),
      encodeRecord({ topic: '%RETRY%workers', body: 'again', tags: 'paid' }, { allowSystemTopic: true, reconsumeTimes: 2, systemProperties: { [SystemProperty.RETRY_TOPIC]: 'orders' } }),
    );
    const messages = await consumer.receive(10, 5_000, { awaitDurationMs: 0 }).then(async (got) => (got.length > 0 ? got : consumer.receive(10, 5_000, { awaitDurationMs: 0 })));
    expect(messages.map((m) => [m.body.toString(), m.topic, m.reconsumeTimes, m.deliveryAttempt, m.brokerName])).toEqual([
      ['first', 'orders', 0, 1, 'broker-b'],
      ['again', 'orders', 2, 3, 'broker-b'],
    ]);
    expect(messages[0]!.invisibleUntil).toBe(parseReceiptHandle(messages[0]!.receiptHandle).invisibleUntil);
    expect(messages[0]!.invisibleUntil).toBeGreaterThan(Date.now());
    expect(JSON.parse(JSON.stringify(messages[1]))).toMatchObject({ topic: 'orders', deliveryAttempt: 3, receiptHandle: messages[1]!.receiptHandle });

    await consumer.ack(messages[0]!);
    await consumer.ack(messages[1]!.receiptHandle);
    expect(pops[1]!.acks.map((h) => h.handle)).toEqual([messages[0]!.receiptHandle, messages[1]!.receiptHandle]);
    expect(pops[0]!.acks).toEqual([]);

    // changeInvisibleDuration: the message carries the new handle afterwards.
    const old = messages[0]!.receiptHandle;
    const next = await consumer.changeInvisibleDuration(messages[0]!, 60_000);
    expect(next).not.toBe(old);
    expect(messages[0]!.receiptHandle).toBe(next);
    expect(messages[0]!.invisibleUntil).toBeGreaterThan(Date.now() + 50_000);
    expect(pops[1]!.changes[0]).toEqual({ group: 'workers', handle: old, invisibleMs: 60_000 });

    // The broker's verdict on an expired handle comes back typed.
    pops[1]!.expired.add(next);
    await expect(consumer.ack(messages[0]!)).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_EXPIRED', retriable: false });
  });

  it('aborts a waiting receive on its signal and on close, and leaves its brokers', async () => {
    const { consumer, cluster, pops } = await setup(1);
    consumer.subscribe('orders');
    await consumer.start();
    const controller = new AbortController();
    const aborted = consumer.receive(1, 1_000, { awaitDurationMs: 10_000, signal: controller.signal });
    await waitFor(() => pops[0]!.pops.length === 1, 5_000, 'the pop');
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });

    const pending = consumer.receive(1, 1_000, { awaitDurationMs: 10_000 }).then(() => undefined, (error: unknown) => error);
    await waitFor(() => pops[0]!.pops.length === 2, 5_000, 'the second pop');
    const startedAt = Date.now();
    await consumer.close();
    expect(await pending).toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(Date.now() - startedAt).toBeLessThan(3_000);
    await waitFor(() => (cluster.brokers[0]!.members.get('workers')?.size ?? 0) === 0, 5_000, 'unregistered');
    await expect(consumer.ack('P1:broker-a:1:0123456789ABCDEF0123456789ABCDEF:1')).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });

  it('fails with NO_ROUTE when no broker serves the topic, and for handles of unknown brokers', async () => {
    const { consumer } = await setup(1);
    consumer.subscribe('missing');
    await consumer.start();
    await expect(consumer.receive(1, 1_000)).rejects.toMatchObject({ code: 'NO_ROUTE' });
    await expect(consumer.ack('P1:broker-z:1:0123456789ABCDEF0123456789ABCDEF:1')).rejects.toMatchObject({ code: 'NO_ROUTE' });
  });
});
