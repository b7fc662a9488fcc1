import { TopicPerm } from '@litemq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin, Producer } from '../src/index.js';
import { startCluster } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const cluster = await startCluster({ brokers: 2 });
  cleanups.push(() => cluster.close());
  const admin = new Admin({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => admin.close());
  return { cluster, admin };
}

describe('Admin', () => {
  it('creates a topic on every master (or the named ones), lists, routes and deletes it', async () => {
    const { cluster, admin } = await setup();
    expect(await admin.createTopic('orders')).toEqual(['broker-a', 'broker-b']);
    expect(await admin.createTopic('audit', { queueNums: 2, brokerNames: ['broker-b'] })).toEqual(['broker-b']);
    expect(cluster.brokers[1]!.topics.get('audit')).toEqual({ topic: 'audit', readQueueNums: 2, writeQueueNums: 2, perm: TopicPerm.READ_WRITE });
    await expect(admin.createTopic('x', { brokerNames: ['broker-z'] })).rejects.toMatchObject({ code: 'NO_ROUTE' });
    await expect(admin.createTopic('bad name')).rejects.toMatchObject({ code: 'TOPIC_NAME_INVALID' });

    const topics = await admin.listTopics();
    expect(topics.map((t) => t.topic)).toEqual(['audit', 'orders']);
    expect(topics[1]!.brokers.map((b) => [b.brokerName, b.writeQueueNums])).toEqual([
      ['broker-a', 8],
      ['broker-b', 8],
    ]);
    const route = await admin.getRoute('orders');
    expect(route.brokers.map((b) => b.brokerName).sort()).toEqual(['broker-a', 'broker-b']);

    await admin.deleteTopic('audit');
    expect((await admin.listTopics()).map((t) => t.topic)).toEqual(['orders']);
    await expect(admin.getRoute('audit')).rejects.toMatchObject({ code: 'TOPIC_NOT_EXIST' });
  });

  it('reports cluster info, queue offsets and consumer lag', async () => {
    const { cluster, admin } = await setup();
    const info = await admin.clusterInfo();
    expect(info.clusters.DefaultCluster).toEqual(['broker-a', 'broker-b']);
    expect(info.brokers.map((b) => b.brokerAddr)).toEqual(cluster.brokers.map((b) => b.address));
    await admin.createTopic('orders', { queueNums: 2 });
    const producer = new Producer({ nameServers: [cluster.nameServer.address] });
    cleanups.push(() => producer.close());
    await producer.start();
    await Promise.all(Array.from({ length: 8 }, (_, i) => producer.send({ topic: 'orders', body: `m${i}` })));
    const offsets = await admin.queryOffsets('orders');
    expect(offsets).toHaveLength(4);
    expect(offsets.reduce((n, q) => n + q.maxOffset, 0)).toBe(8);
    cluster.brokers[0]!.committed.set('cg@orders@0', 0);
    cluster.brokers[1]!.committed.set('cg@orders@1', 1);
    const lag = await admin.consumerOffsets('cg', 'orders');
    expect(lag.queues.map((q) => [q.brokerName, q.queueId, q.committedOffset])).toEqual([
      ['broker-a', 0, 0],
      ['broker-b', 1, 1],
    ]);
    expect(lag.totalLag).toBe(cluster.brokers[0]!.queue('orders', 0).length + cluster.brokers[1]!.queue('orders', 1).length - 1);
    await admin.close();
    await expect(admin.listTopics()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });
});
