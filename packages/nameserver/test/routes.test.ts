import { afterEach, describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, TopicPerm } from '@litemq/protocol';
import { Harness, broker, topic } from './helpers.js';

const harnesses: Harness[] = [];
async function start(...args: Parameters<typeof Harness.start>): Promise<Harness> {
  const harness = await Harness.start(...args);
  harnesses.push(harness);
  return harness;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

const A = broker({ brokerName: 'broker-a', brokerAddr: '127.0.0.1:10911', haAddr: '127.0.0.1:10912', topics: [topic('orders', 4), topic('shared', 8)] });
const B = broker({ brokerName: 'broker-b', brokerAddr: '127.0.0.1:20911', topics: [topic('payments', 2, TopicPerm.READ), topic('shared', 16)] });

describe('NameServer routes', () => {
  it('binds an ephemeral port and reports host:port', async () => {
    const { server } = await start();
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
  });

  it('serves routes and cluster info for two registered brokers', async () => {
    const ns = await start();
    await ns.register(A);
    await ns.register(B);

    expect(await ns.route('orders')).toEqual({
      topic: 'orders',
      brokers: [{ clusterName: 'DefaultCluster', brokerName: 'broker-a', addrs: { '0': '127.0.0.1:10911' } }],
      queues: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: TopicPerm.READ_WRITE }],
    });
    expect(await ns.route('payments')).toEqual({
      topic: 'payments',
      brokers: [{ clusterName: 'DefaultCluster', brokerName: 'broker-b', addrs: { '0': '127.0.0.1:20911' } }],
      queues: [{ brokerName: 'broker-b', readQueueNums: 2, writeQueueNums: 2, perm: TopicPerm.READ }],
    });
    const shared = await ns.route('shared');
    expect(shared.brokers.map((b) => b.brokerName)).toEqual(['broker-a', 'broker-b']);
    expect(shared.queues.map((q) => [q.brokerName, q.writeQueueNums])).toEqual([
      ['broker-a', 8],
      ['broker-b', 16],
    ]);
    expect(shared.autoCreated).toBeUndefined();

    const info = await ns.clusterInfo();
    expect(info.clusters).toEqual({ DefaultCluster: ['broker-a', 'broker-b'] });
    expect(info.brokers).toHaveLength(2);
    expect(info.brokers[0]).toMatchObject({
      clusterName: 'DefaultCluster',
      brokerName: 'broker-a',
      brokerId: 0,
      brokerAddr: '127.0.0.1:10911',
      haAddr: '127.0.0.1:10912',
      dataVersion: 1,
      topicCount: 2,
    });
    expect(Math.abs(info.brokers[0]!.lastUpdateTimestamp - Date.now())).toBeLessThan(10_000);
  });

  it('groups a master and its slave into one replica set; only the master defines topics', async () => {
    const ns = await start();
    await ns.register(A);
    await ns.register(broker({ brokerName: 'broker-a', brokerId: 1, brokerAddr: '127.0.0.1:10921', topics: [topic('slave-only')] }));
    const route = await ns.route('orders');
    expect(route.brokers).toEqual([{ clusterName: 'DefaultCluster', brokerName: 'broker-a', addrs: { '0': '127.0.0.1:10911', '1': '127.0.0.1:10921' } }]);
    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: 'slave-only' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);

    // The master leaves: the slave still serves reads of the set's topics.
    await ns.unregister(A);
    expect((await ns.route('orders')).brokers).toEqual([{ clusterName: 'DefaultCluster', brokerName: 'broker-a', addrs: { '1': '127.0.0.1:10921' } }]);
    expect((await ns.clusterInfo()).brokers.map((b) => b.brokerId)).toEqual([1]);
  });

  it('replaces the topic set of a broker on re-registration', async () => {
    const ns = await start();
    await ns.register(A);
    await ns.register(B);
    await ns.register({ ...A, dataVersion: 2, topics: [topic('orders', 6), topic('invoices')] });

    expect((await ns.route('orders')).queues).toEqual([{ brokerName: 'broker-a', readQueueNums: 6, writeQueueNums: 6, perm: TopicPerm.READ_WRITE }]);
    expect((await ns.route('invoices')).brokers.map((b) => b.brokerName)).toEqual(['broker-a']);
    // 'shared' is gone from broker-a but broker-b still has it.
    expect((await ns.route('shared')).queues.map((q) => q.brokerName)).toEqual(['broker-b']);
    const info = await ns.clusterInfo();
    expect(info.brokers.find((b) => b.brokerName === 'broker-a')).toMatchObject({ dataVersion: 2, topicCount: 2 });

    await ns.register({ ...A, dataVersion: 3, topics: [] });
    const gone = await ns.failure(RequestCode.GET_ROUTE, { topic: 'orders' });
    expect(gone.responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(gone.message).toBe('no route for topic orders');
    expect((await ns.clusterInfo()).brokers.map((b) => b.brokerName)).toEqual(['broker-a', 'broker-b']);
  });

  it('removes an unregistered broker at once', async () => {
    const ns = await start();
    await ns.register(A);
    await ns.register(B);
    await ns.unregister(A);

    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: 'orders' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await ns.route('shared')).brokers.map((b) => b.brokerName)).toEqual(['broker-b']);
    expect(await ns.clusterInfo()).toMatchObject({ clusters: { DefaultCluster: ['broker-b'] } });
    // Unregistering an unknown broker is harmless.
    await ns.unregister(A);
    expect((await ns.clusterInfo()).brokers).toHaveLength(1);
  });

  it('offers an auto-created route over masters with autoCreateTopic', async () => {
    const ns = await start();
    await ns.register({ ...A, autoCreateTopic: true });
    await ns.register(B);
    await ns.register(broker({ brokerName: 'broker-c', brokerAddr: '127.0.0.1:30911', autoCreateTopic: true, clusterName: 'Other' }));
    // A slave with autoCreateTopic does not make its (absent) master's set eligible.
    await ns.register(broker({ brokerName: 'broker-d', brokerId: 1, brokerAddr: '127.0.0.1:40921', autoCreateTopic: true }));

    expect(await ns.route('brand-new')).toEqual({
      topic: 'brand-new',
      brokers: [
        { clusterName: 'DefaultCluster', brokerName: 'broker-a', addrs: { '0': '127.0.0.1:10911' } },
        { clusterName: 'Other', brokerName: 'broker-c', addrs: { '0': '127.0.0.1:30911' } },
      ],
      queues: [
        { brokerName: 'broker-a', readQueueNums: 8, writeQueueNums: 8, perm: TopicPerm.READ_WRITE },
        { brokerName: 'broker-c', readQueueNums: 8, writeQueueNums: 8, perm: TopicPerm.READ_WRITE },
      ],
      autoCreated: true,
    });
    // A topic some broker has keeps its real route.
    expect((await ns.route('payments')).autoCreated).toBeUndefined();
    // System topics are never auto-created.
    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: '%RETRY%group-1' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('answers TOPIC_NOT_EXIST without autoCreateTopic brokers, and serves registered system topics', async () => {
    const ns = await start();
    const empty = await ns.failure(RequestCode.GET_ROUTE, { topic: 'nowhere' });
    expect(empty.responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(empty.code).toBe('TOPIC_NOT_EXIST');
    expect(empty.message).toBe('no route for topic nowhere');

    await ns.register({ ...B, topics: [...B.topics, topic('%RETRY%group-1', 1)] });
    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: 'nowhere' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await ns.route('%RETRY%group-1')).queues).toEqual([{ brokerName: 'broker-b', readQueueNums: 1, writeQueueNums: 1, perm: TopicPerm.READ_WRITE }]);
  });

  it('moves an address that re-registers under another identity', async () => {
    const ns = await start();
    await ns.register(A);
    // A new process at broker-a/0 on another address replaces the old one.
    await ns.register({ ...A, brokerAddr: '127.0.0.1:10999' });
    expect((await ns.route('orders')).brokers[0]!.addrs).toEqual({ '0': '127.0.0.1:10999' });
    // The same address comes back as broker-z: broker-a (now empty) loses its topics.
    await ns.register(broker({ brokerName: 'broker-z', brokerAddr: '127.0.0.1:10999', topics: [topic('zeta')] }));
    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: 'orders' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await ns.clusterInfo()).brokers.map((b) => [b.brokerName, b.brokerAddr])).toEqual([['broker-z', '127.0.0.1:10999']]);
  });

  it('keeps two NameServers independent', async () => {
    const one = await start();
    const two = await start();
    expect(one.server.address).not.toBe(two.server.address);
    await one.register(A);
    await two.register(B);
    expect((await one.route('orders')).brokers[0]!.brokerName).toBe('broker-a');
    expect((await one.failure(RequestCode.GET_ROUTE, { topic: 'payments' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await two.failure(RequestCode.GET_ROUTE, { topic: 'orders' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await two.clusterInfo()).brokers.map((b) => b.brokerName)).toEqual(['broker-b']);
    await one.close();
    expect((await two.route('payments')).brokers[0]!.brokerName).toBe('broker-b');
  });
});
