import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ReceivedMessage } from '@litemq/protocol';
import { RequestCode } from '@litemq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../src/index.js';
import type { PushConsumerOptions } from '../src/index.js';
import type { OffsetFile } from '../src/local-offset-store.js';
import { startCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { brokers?: number; queueNums?: number } = {}) {
  const cluster = await startCluster({ brokers: options.brokers ?? 1, topics: ['orders'], queueNums: options.queueNums ?? 4 });
  cleanups.push(() => cluster.close());
  const offsetStoreDir = await mkdtemp(join(tmpdir(), 'litemq-broadcast-'));
  cleanups.push(() => rm(offsetStoreDir, { recursive: true, force: true }));
  const producer = new Producer({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => producer.close());
  await producer.start();
  const consumer = (instanceName: string, overrides: Partial<PushConsumerOptions> = {}) => {
    const c = new PushConsumer({
      nameServers: [cluster.nameServer.address],
      group: 'cg',
      messageModel: 'broadcasting',
      offsetStoreDir,
      instanceName,
      consumeFromWhere: 'FIRST_OFFSET',
      commitIntervalMs: 50,
      ...overrides,
    });
    cleanups.push(() => c.close());
    return c;
  };
  const sendAll = (n: number, prefix = 'm') => Promise.all(Array.from({ length: n }, (_, i) => producer.send({ topic: 'orders', body: `${prefix}${i}` })));
  const offsetFile = async (instanceName: string): Promise<OffsetFile | undefined> => {
    const text = await readFile(join(offsetStoreDir, instanceName, 'cg.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as OffsetFile);
  };
  const storedTotal = async (instanceName: string) => (await offsetFile(instanceName))?.offsets.reduce((sum, o) => sum + o.offset, 0) ?? -1;
  return { cluster, producer, consumer, sendAll, offsetStoreDir, offsetFile, storedTotal };
}

function counter() {
  const seen = new Map<string, number>();
  return {
    seen,
    handler: (m: ReceivedMessage) => void seen.set(m.body.toString(), (seen.get(m.body.toString()) ?? 0) + 1),
    duplicates: () => [...seen.values()].filter((n) => n > 1).length,
  };
}

describe('PushConsumer in broadcasting mode', () => {
  it('gives every instance every queue and every message, with offsets in its own file and none on the broker', async () => {
    const { cluster, consumer, sendAll, offsetFile, offsetStoreDir } = await setup({ brokers: 2, queueNums: 4 });
    const a = consumer('node-a').subscribe('orders');
    const b = consumer('node-b').subscribe('orders');
    const ca = counter();
    const cb = counter();
    await a.start(ca.handler);
    await b.start(cb.handler);
    expect(a.messageModel).toBe('broadcasting');
    expect(a.offsetStorePath).toBe(join(offsetStoreDir, 'node-a', 'cg.json'));
    await waitFor(() => a.assignedQueues().length === 8 && b.assignedQueues().length === 8, 5000, 'all 8 queues on both instances');
    // No retry topic in broadcasting mode.
    expect(a.assignedQueues({ includeRetry: true })).toHaveLength(8);

    const sent = await sendAll(300);
    const bodies = sent.map((_, i) => `m${i}`).sort();
    await waitFor(() => ca.seen.size === 300 && cb.seen.size === 300, 10_000, 'all 300 messages on both instances');
    expect([...ca.seen.keys()].sort()).toEqual(bodies);
    expect([...cb.seen.keys()].sort()).toEqual(bodies);
    expect(ca.duplicates() + cb.duplicates()).toBe(0);

    await a.close();
    await b.close();
    for (const broker of cluster.brokers) {
      // Heartbeats tell the broker these members exist and how they consume.
      const models = broker.heartbeats.flatMap((h) => (h.consumers as Array<Record<string, unknown>>).map((c) => c.consumeModel));
      expect(new Set(models)).toEqual(new Set(['BROADCASTING']));
      // Nothing committed to the broker: neither COMMIT_OFFSET nor piggy-backed on pulls.
      expect(broker.commitRequests).toEqual([]);
      expect(broker.committed.size).toBe(0);
      expect(broker.pulls.every((p) => p.commitOffset === -1)).toBe(true);
    }
    for (const name of ['node-a', 'node-b']) {
      const file = await offsetFile(name);
      expect(file).toMatchObject({ version: 1, group: 'cg', instanceName: name });
      expect(file!.offsets).toHaveLength(8);
      for (const entry of file!.offsets) {
        const broker = cluster.brokers.find((x) => x.brokerName === entry.brokerName)!;
        expect(entry.offset).toBe(broker.queue('orders', entry.queueId).length);
      }
    }
  });

  it('resumes from its offset file after a restart; without a file it starts from consumeFromWhere', async () => {
    const { consumer, sendAll, storedTotal } = await setup({ queueNums: 2 });
    await sendAll(10, 'old');
    const first = consumer('node-1', { consumeFromWhere: 'LAST_OFFSET' }).subscribe('orders');
    const c1 = counter();
    await first.start(c1.handler);
    // The start position (the end: 10) is persisted even though nothing was consumed yet.
    await waitFor(() => first.assignedQueues().length === 2, 5000, 'assignment');
    await first.close();
    expect(await storedTotal('node-1')).toBe(10);
    expect(c1.seen.size).toBe(0);

    await sendAll(5, 'while-away');
    const again = consumer('node-1', { consumeFromWhere: 'LAST_OFFSET' }).subscribe('orders');
    const c2 = counter();
    await again.start(c2.handler);
    await waitFor(() => c2.seen.size === 5, 5000, 'the 5 messages sent while it was away');
    await sendAll(3, 'after');
    await waitFor(() => c2.seen.size === 8, 5000, '3 more');
    expect([...c2.seen.keys()].sort()).toEqual(['after0', 'after1', 'after2', 'while-away0', 'while-away1', 'while-away2', 'while-away3', 'while-away4']);
    await again.close();
    expect(await storedTotal('node-1')).toBe(18);

    // Another instance name has no file: FIRST_OFFSET reads everything.
    const other = consumer('node-2').subscribe('orders');
    const c3 = counter();
    await other.start(c3.handler);
    await waitFor(() => c3.seen.size === 18, 5000, 'all 18 messages on a new instance');
  });

  it('writes the start position before consuming: a crash before the first commit skips nothing (LAST_OFFSET)', async () => {
    const { consumer, sendAll, offsetStoreDir } = await setup({ queueNums: 2 });
    await sendAll(10, 'old');
    // No periodic commit during the test: the file holds only what was written before consuming.
    const first = consumer('node-1', { consumeFromWhere: 'LAST_OFFSET', commitIntervalMs: 600_000 }).subscribe('orders');
    const c1 = counter();
    await first.start(c1.handler);
    await waitFor(() => first.assignedQueues().length === 2, 5000, 'assignment');
    await sendAll(5, 'new');
    await waitFor(() => c1.seen.size === 5, 5000, 'the 5 messages sent after the start');

    // Crash now, before any commit: a restart has only what is on disk. Copy it to a directory of its own, as a
    // restarted instance would find it (the running one keeps its file and lock).
    const crashDir = await mkdtemp(join(tmpdir(), 'litemq-broadcast-crash-'));
    cleanups.push(() => rm(crashDir, { recursive: true, force: true }));
    const onDisk = await readFile(join(offsetStoreDir, 'node-1', 'cg.json'), 'utf8').catch(() => undefined);
    if (onDisk !== undefined) {
      await mkdir(join(crashDir, 'node-1'), { recursive: true });
      await writeFile(join(crashDir, 'node-1', 'cg.json'), onDisk);
    }
    const again = consumer('node-1', { consumeFromWhere: 'LAST_OFFSET', offsetStoreDir: crashDir }).subscribe('orders');
    const c2 = counter();
    await again.start(c2.handler);
    // Resumed at the first start position (10), not at a new LAST_OFFSET (15): the 5 come again, none is skipped.
    await waitFor(() => c2.seen.size === 5, 5000, 'the 5 messages sent after the first start, after the restart');
    expect([...c2.seen.keys()].sort()).toEqual(['new0', 'new1', 'new2', 'new3', 'new4']);
    expect((JSON.parse(onDisk!) as OffsetFile).offsets.reduce((sum, o) => sum + o.offset, 0)).toBe(10);
  });

  it('does not consume a queue whose start position cannot be written; the next rebalance tries again', async () => {
    const { consumer, sendAll, offsetStoreDir, storedTotal } = await setup({ queueNums: 1 });
    await sendAll(3);
    const path = join(offsetStoreDir, 'node-1', 'cg.json');
    await mkdir(`${path}.tmp`, { recursive: true }); // the atomic write's temp file cannot be created
    const c = consumer('node-1', { rebalanceIntervalMs: 600_000 }).subscribe('orders');
    const seen = counter();
    await c.start(seen.handler);
    expect(c.assignedQueues()).toEqual([]);
    await rm(`${path}.tmp`, { recursive: true });
    c.requestRebalance();
    await waitFor(() => seen.seen.size === 3, 5000, 'the 3 messages once the file can be written');
    await c.close();
    expect(await storedTotal('node-1')).toBe(3);
  });

  it('retries a failed message in place up to maxReconsumeTimes, then skips it; never sends it back', async () => {
    const { cluster, consumer, sendAll, storedTotal } = await setup({ queueNums: 1 });
    const sendBacks: unknown[] = [];
    cluster.brokers[0]!.server.register(RequestCode.CONSUMER_SEND_BACK, (frame) => {
      sendBacks.push(frame.header);
      return {};
    });
    await sendAll(3);
    const attempts: Array<[string, number]> = [];
    const c = consumer('node-1', { maxReconsumeTimes: 1 }).subscribe('orders');
    await c.start((m) => {
      attempts.push([m.body.toString(), m.reconsumeTimes]);
      if (m.body.toString() === 'm1') throw new Error('always fails');
    });
    await waitFor(() => attempts.length === 4, 10_000, 'm0, m2, and m1 with its one retry');
    // After its one retry m1 is skipped: the offset moves past it.
    await c.close();
    expect(await storedTotal('node-1')).toBe(3);
    expect(attempts.filter(([body]) => body === 'm1')).toEqual([
      ['m1', 0],
      ['m1', 1],
    ]);
    expect(sendBacks).toEqual([]);
  });

  it('ignores offset reset notifications from the broker', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 1 });
    await sendAll(10);
    // No periodic write: a reset that dropped the queue would re-read "no offset" and replay from the first one.
    const c = consumer('node-1', { commitIntervalMs: 600_000 }).subscribe('orders');
    const seen = counter();
    await c.start(seen.handler);
    await waitFor(() => seen.seen.size === 10, 5000, '10 messages');
    const broker = cluster.brokers[0]!;
    for (const connection of broker.members.get('cg')!.values()) {
      connection.oneway(RequestCode.NOTIFY_OFFSET_RESET, { group: 'cg', brokerName: broker.brokerName, offsets: [{ topic: 'orders', queueId: 0, offset: 0, previous: 10 }] });
    }
    // Sent after the notification on the same connection: by the time it arrives, any replay would have too.
    await sendAll(1, 'late');
    await waitFor(() => seen.seen.has('late0'), 5000, 'the late message');
    expect(seen.duplicates()).toBe(0);
    expect(c.assignedQueues()).toHaveLength(1);
  });

  it('picks up queues added to a topic when the route is refreshed', async () => {
    const { cluster, consumer, sendAll } = await setup({ queueNums: 2 });
    const c = consumer('node-1', { rebalanceIntervalMs: 600_000 }).subscribe('orders');
    const seen = counter();
    await c.start(seen.handler);
    await waitFor(() => c.assignedQueues().length === 2, 5000, '2 queues');
    cluster.brokers[0]!.addTopic('orders', 4);
    c.requestRebalance();
    await waitFor(() => c.assignedQueues().length === 4, 5000, '4 queues after the route refresh');
    await sendAll(40);
    await waitFor(() => seen.seen.size === 40, 5000, '40 messages');
  });

  it('refuses a corrupt or busy offset file at start, and bad options at construction', async () => {
    const { consumer, offsetStoreDir } = await setup({ queueNums: 1 });
    const path = join(offsetStoreDir, 'node-1', 'cg.json');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, '{"version":1,"group":"cg","offsets":[{"topic":"orders"');
    const corrupt = consumer('node-1').subscribe('orders');
    await expect(corrupt.start(() => undefined)).rejects.toMatchObject({ code: 'OFFSET_STORE_CORRUPT' });
    await corrupt.close();
    await rm(path);

    const first = consumer('node-1').subscribe('orders');
    await first.start(() => undefined);
    const twin = consumer('node-1').subscribe('orders');
    await expect(twin.start(() => undefined)).rejects.toMatchObject({ code: 'OFFSET_STORE_LOCKED' });
    await first.close();
    await twin.start(() => undefined); // free once the first one closed

    expect(() => consumer('node-2', { retryMode: 'broker' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => consumer('bad/name')).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => consumer('node-3', { messageModel: 'fanout' as never })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
