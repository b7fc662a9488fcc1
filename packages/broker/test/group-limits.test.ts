import { describe, expect, it } from 'vitest';
import type { ConsumeModel, Frame, HeartbeatRequestHeader, RpcClient } from '@litemq/protocol';
import { RecordField, RequestCode, ResponseCode, TopicPerm, expectSuccess, readMessageId, readU64 } from '@litemq/protocol';
import type { Broker } from '../src/index.js';
import { BrokerErrorCode } from '../src/index.js';
import { client, readable, record, recordingNameServer, startBroker, waitFor } from './helpers.js';

function heartbeat(clientId: string, groups: readonly string[], consumeModel: ConsumeModel = 'CLUSTERING', maxReconsumeTimes?: number): HeartbeatRequestHeader {
  return {
    clientId,
    producerGroups: [],
    consumers: groups.map((group) => ({
      group, consumeModel, fromWhere: 'LAST_OFFSET', subscriptions: [{ topic: 'orders', expression: '*' }], ...(maxReconsumeTimes === undefined ? {} : { maxReconsumeTimes }),
    })),
  };
}

function expectRefused(reply: Frame, errorCode: string): void {
  expect(reply.code).toBe(ResponseCode.INVALID_REQUEST);
  expect(reply.header.errorCode).toBe(errorCode);
}

async function withOrders(broker: Broker): Promise<RpcClient> {
  await broker.topics.put({ topic: 'orders', readQueueNums: 1, writeQueueNums: 1, perm: TopicPerm.READ_WRITE });
  return client();
}

describe('consumer group limits', () => {
  it('refuses a heartbeat listing more than maxGroupsPerHeartbeat groups, recording nothing of it', async () => {
    const broker = await startBroker({ maxGroupsPerHeartbeat: 3 });
    const rpc = await withOrders(broker);
    const groups = ['a', 'b', 'c', 'd'];
    expectRefused(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c1', groups)), BrokerErrorCode.HEARTBEAT_TOO_MANY_GROUPS);
    expectRefused(await rpc.request(broker.address, RequestCode.HEARTBEAT, { clientId: 'p1', producerGroups: groups, consumers: [] }), BrokerErrorCode.HEARTBEAT_TOO_MANY_GROUPS);
    expect(broker.consumers.groupNames()).toEqual([]);
    expect(broker.producers.groupNames()).toEqual([]);
    expect(broker.topics.countWithPrefix('%RETRY%')).toBe(0);
    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c1', groups.slice(0, 3))));
    expect(broker.consumers.groupNames().sort()).toEqual(['a', 'b', 'c']);
  });

  it('creates a retry topic once per group, and none for a new group past maxConsumerGroups', async () => {
    const ns = await recordingNameServer();
    // Registrations naming %RETRY%g1 are held until released (recorded once answered).
    let held = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    ns.server.register(RequestCode.REGISTER_BROKER, async (frame) => {
      if ((frame.header.topics as Array<{ topic: string }>).some((t) => t.topic === '%RETRY%g1')) {
        held = true;
        await gate;
      }
      ns.registers.push(frame.header);
      return {};
    });
    const broker = await startBroker({ nameServers: [ns.address], registerIntervalMs: 600_000, maxConsumerGroups: 2 });
    const rpc = await withOrders(broker);
    const other = client();

    // Two first heartbeats of a group at once: neither is answered before its retry topic is registered.
    let answered = 0;
    const first = [rpc, other].map((c, i) => c.request(broker.address, RequestCode.HEARTBEAT, heartbeat(`c${i}`, ['g1'])).then((reply) => {
      answered++;
      return expectSuccess(reply);
    }));
    await waitFor(() => held && broker.consumers.clientIds('g1').length === 2, 10_000, 'both heartbeats and the registration');
    // Round trips on both connections: an answer sent before them would have arrived first.
    await Promise.all([rpc, other].map((c) => c.request(broker.address, RequestCode.GET_CONSUMER_LIST, { group: 'g1' })));
    expect(answered).toBe(0);
    release();
    await Promise.all(first);
    // Known groups change nothing: no topic write, no registration.
    const version = broker.topics.dataVersion;
    const registrations = ns.registers.length;
    for (let i = 0; i < 3; i++) expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c0', ['g1'])));
    expect(broker.topics.dataVersion).toBe(version);
    expect(ns.registers.length).toBe(registrations);

    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c0', ['g1', 'g2'])));
    // A third group's retry topic would pass the limit: refused, and nothing of the heartbeat is recorded.
    expectRefused(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c3', ['g1', 'g3'])), BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    expect(broker.topics.get('%RETRY%g3')).toBeUndefined();
    expect(broker.consumers.clientIds('g1')).toEqual(['c0', 'c1']);
    expect(broker.consumers.clientIds('g3')).toEqual([]);
    // Nor does a send-back of a made-up group create one.
    const sent = expectSuccess(await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('orders', 'x')));
    await readable(broker, 'orders', 0, 1);
    const stored = await broker.store.read('orders', 0, 0, { maxCount: 1 });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    const sendBack = await rpc.request(broker.address, RequestCode.CONSUMER_SEND_BACK, {
      group: 'made-up', commitLogOffset: readU64(stored.records, RecordField.COMMIT_LOG_OFFSET), msgId: readMessageId(stored.records, RecordField.MSG_ID), failureReason: 'x',
    });
    expectRefused(sendBack, BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    expect(broker.topics.get('%RETRY%made-up')).toBeUndefined();
    // Broadcasting groups get no retry topic: not limited by it.
    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c4', ['b1'], 'BROADCASTING')));
  });

  it('bounds the committed offsets by maxConsumerGroups for commits, pops and pulls', async () => {
    const broker = await startBroker({ maxConsumerGroups: 2 });
    const rpc = await withOrders(broker);
    const commit = (group: string) => rpc.request(broker.address, RequestCode.COMMIT_OFFSET, { group, offsets: [{ topic: 'orders', queueId: 0, offset: 0 }] });
    const pop = (group: string) => rpc.request(broker.address, RequestCode.POP_MESSAGE, { group, subscriptions: [{ topic: 'orders' }], maxCount: 1, invisibleMs: 1_000 });
    expectSuccess(await commit('a'));
    expectSuccess(await pop('b'));
    expectRefused(await commit('c'), BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    expectRefused(await pop('c'), BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    const pull = await rpc.request(broker.address, RequestCode.PULL_MESSAGE, { group: 'c', topic: 'orders', queueId: 0, offset: 0, maxCount: 1, commitOffset: 0 });
    expectRefused(pull, BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    expectRefused(await rpc.request(broker.address, RequestCode.RESET_OFFSET, { group: 'c', topic: 'orders', target: 'EARLIEST' }), BrokerErrorCode.CONSUMER_GROUP_LIMIT);
    expect(broker.offsets.groups().sort()).toEqual(['a', 'b']);
    // Known groups go on committing.
    expectSuccess(await commit('a'));
    expectSuccess(await pop('b'));
  });

  it('forgets the maxReconsumeTimes of a group once it has no live member and no retry topic', async () => {
    const broker = await startBroker({ clientExpiryMs: 100 });
    const rpc = await withOrders(broker);
    const other = client();
    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c1', ['clustered'], 'CLUSTERING', 3)));
    expectSuccess(await other.request(broker.address, RequestCode.HEARTBEAT, heartbeat('c2', ['broadcast'], 'BROADCASTING', 5)));
    expect(broker.retry!.rememberedGroups).toBe(2);
    await other.close();
    await waitFor(() => broker.consumers.clientIds('broadcast').length === 0, 10_000, 'the broadcasting member to leave');
    // The clustering group keeps it (its retry topic stays); the broadcasting one is forgotten.
    await waitFor(() => broker.retry!.rememberedGroups === 1, 10_000, 'the idle group to be forgotten');
  });
});
