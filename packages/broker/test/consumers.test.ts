import { describe, expect, it } from 'vitest';
import type { ConsumeType, Frame, HeartbeatRequestHeader, PopMessageRequestHeader, PullRequestHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, TopicPerm, expectSuccess } from '@litemq/protocol';
import { client, startBroker, waitFor } from './helpers.js';

function heartbeat(clientId: string, group = 'cg', consumeType?: ConsumeType): HeartbeatRequestHeader {
  return {
    clientId,
    producerGroups: [],
    consumers: [{ group, consumeModel: 'CLUSTERING', fromWhere: 'LAST_OFFSET', subscriptions: [{ topic: 'orders', expression: '*' }], ...(consumeType ? { consumeType } : {}) }],
  };
}

function popRequest(group: string): PopMessageRequestHeader {
  return { group, subscriptions: [{ topic: 'orders' }], maxCount: 1, invisibleMs: 1_000 };
}

function pullRequest(group: string): PullRequestHeader {
  return { group, topic: 'orders', queueId: 0, offset: 0, maxCount: 1 };
}

/** A consumer connection that records the NOTIFY_CONSUMER_IDS_CHANGED oneways it receives. */
function consumer() {
  const notifications: string[] = [];
  const rpc = client({
    onRequest: (frame: Frame) => {
      if (frame.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) notifications.push(String(frame.header.group));
    },
  });
  return { rpc, notifications };
}

describe('consumer groups', () => {
  it('tracks members from heartbeats and notifies the group on join, leave and connection close', async () => {
    const broker = await startBroker();
    const a = consumer();
    const b = consumer();
    const c = consumer();
    const list = async () => expectSuccess(await a.rpc.request(broker.address, RequestCode.GET_CONSUMER_LIST, { group: 'cg' })).header.clientIds as string[];

    expect((await a.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a'))).code).toBe(ResponseCode.SUCCESS);
    expect(await list()).toEqual(['client-a']);
    await b.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-b'));
    expect(await list()).toEqual(['client-a', 'client-b']);
    await waitFor(() => a.notifications.length >= 2 && b.notifications.length >= 1, 10_000, 'join notifications');
    expect(a.notifications.every((group) => group === 'cg')).toBe(true);

    // A repeated heartbeat is not a membership change.
    const before = a.notifications.length;
    await b.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-b'));
    await c.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-c'));
    await waitFor(() => a.notifications.length === before + 1, 10_000, 'the join of client-c');

    // Leaving by UNREGISTER_CLIENT.
    await c.rpc.request(broker.address, RequestCode.UNREGISTER_CLIENT, { clientId: 'client-c', consumerGroup: 'cg' });
    expect(await list()).toEqual(['client-a', 'client-b']);
    await waitFor(() => a.notifications.length === before + 2 && b.notifications.length >= 3, 10_000, 'the leave of client-c');

    // Leaving by closing the connection.
    await b.rpc.close();
    await waitFor(async () => (await list()).length === 1, 10_000, 'client-b to be dropped');
    expect(await list()).toEqual(['client-a']);
    await waitFor(() => a.notifications.length === before + 3, 10_000, 'the leave of client-b');
  });

  it('drops members silent for clientExpiryMs', async () => {
    const broker = await startBroker({ clientExpiryMs: 100 });
    const a = consumer();
    const b = consumer();
    await a.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a'));
    await b.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-b'));
    // client-a keeps heart-beating, client-b goes silent.
    await waitFor(async () => {
      await a.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a'));
      return broker.consumers.clientIds('cg').length === 1;
    }, 10_000, 'client-b to expire');
    expect(broker.consumers.clientIds('cg')).toEqual(['client-a']);
  });

  it('rejects malformed heartbeats with INVALID_REQUEST', async () => {
    const broker = await startBroker();
    const { rpc } = consumer();
    const noClient = await rpc.request(broker.address, RequestCode.HEARTBEAT, { consumers: [] });
    expect(noClient.code).toBe(ResponseCode.INVALID_REQUEST);
    const badModel = await rpc.request(broker.address, RequestCode.HEARTBEAT, {
      clientId: 'x', consumers: [{ group: 'cg', consumeModel: 'SOMETIMES', fromWhere: 'LAST_OFFSET', subscriptions: [] }],
    });
    expect(badModel.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(String(badModel.header.error)).toContain('consumeModel');
  });

  it('keeps broadcasting members listed but out of queue allocation, offset resets and retry topics', async () => {
    const broker = await startBroker();
    const resets = { clustering: 0, broadcasting: 0 };
    const connect = (model: keyof typeof resets) =>
      client({ onRequest: (frame: Frame) => void (frame.code === RequestCode.NOTIFY_OFFSET_RESET && resets[model]++) });
    const clustering = connect('clustering');
    const broadcasting = connect('broadcasting');
    await clustering.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'orders', readQueueNums: 2, writeQueueNums: 2, perm: 6 });
    const broadcastHeartbeat = (group: string): HeartbeatRequestHeader => ({
      clientId: 'client-b',
      producerGroups: [],
      consumers: [{ group, consumeModel: 'BROADCASTING', fromWhere: 'FIRST_OFFSET', subscriptions: [{ topic: 'orders', expression: '*' }] }],
    });
    expectSuccess(await broadcasting.request(broker.address, RequestCode.HEARTBEAT, broadcastHeartbeat('only-broadcast')));
    expect(broker.topics.get('%RETRY%only-broadcast')).toBeUndefined();
    expect(broker.consumers.members('only-broadcast').map((m) => m.consumeModel)).toEqual(['BROADCASTING']);

    // A group mixing both models: clustering members must not hand queues to the broadcasting one.
    expectSuccess(await clustering.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a')));
    expectSuccess(await broadcasting.request(broker.address, RequestCode.HEARTBEAT, broadcastHeartbeat('cg')));
    expect(broker.consumers.clientIds('cg')).toEqual(['client-a', 'client-b']);
    const list = expectSuccess(await clustering.request(broker.address, RequestCode.GET_CONSUMER_LIST, { group: 'cg' })).header.clientIds;
    expect(list).toEqual(['client-a']);

    const reset = expectSuccess(await clustering.request(broker.address, RequestCode.RESET_OFFSET, { group: 'cg', target: 'EARLIEST', topic: 'orders' }));
    expect(reset.header.notifiedClients).toBe(1);
    await waitFor(() => resets.clustering === 1, 10_000, 'the clustering member to be told of the reset');
    // Both connections are served in order: a round trip on the broadcasting one after the reset proves it got none.
    expectSuccess(await broadcasting.request(broker.address, RequestCode.HEARTBEAT, broadcastHeartbeat('cg')));
    expect(resets.broadcasting).toBe(0);
  });

  it('refuses consumer groups with no room for their retry and dead-letter topics, or with system names', async () => {
    const broker = await startBroker();
    await broker.topics.put({ topic: 'orders', readQueueNums: 1, writeQueueNums: 1, perm: TopicPerm.READ_WRITE });
    const { rpc } = consumer();
    // '%RETRY%' + 121 characters is not a valid topic name; '%X%y' looks like a system name.
    for (const group of ['g'.repeat(121), 'g'.repeat(127), '%X%y', '%RETRY%cg']) {
      for (const [code, header] of [[RequestCode.HEARTBEAT, heartbeat('client-a', group)], [RequestCode.POP_MESSAGE, popRequest(group)], [RequestCode.PULL_MESSAGE, pullRequest(group)]] as const) {
        const reply = await rpc.request(broker.address, code, header);
        expect(reply.code, `${code} ${group}`).toBe(ResponseCode.INVALID_REQUEST);
        expect(reply.header.errorCode).toBe('GROUP_NAME_INVALID');
      }
      expect(broker.consumers.clientIds(group)).toEqual([]);
    }
    const longest = 'g'.repeat(120);
    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a', longest)));
    expect(broker.topics.get(`%RETRY%${longest}`)).toBeDefined();
    expectSuccess(await rpc.request(broker.address, RequestCode.POP_MESSAGE, { ...popRequest('g'.repeat(119)) }));
    // Producer groups keep the general naming rule.
    expectSuccess(await rpc.request(broker.address, RequestCode.HEARTBEAT, { clientId: 'producer', producerGroups: ['p'.repeat(127)], consumers: [] }));
  });

  it('refuses to mix pop and push consumers in one group, and leaves pop members out of queue allocation', async () => {
    const broker = await startBroker();
    await broker.topics.put({ topic: 'orders', readQueueNums: 2, writeQueueNums: 2, perm: TopicPerm.READ_WRITE });
    const popper = consumer();
    const pusher = consumer();
    const conflict = (reply: Frame): void => {
      expect(reply.code).toBe(ResponseCode.CONSUME_TYPE_CONFLICT);
      expect(reply.header.errorCode).toBe('CONSUME_TYPE_CONFLICT');
    };

    // A pop group: its members are listed, but never handed queues.
    expectSuccess(await popper.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-p', 'pop-group', 'POP')));
    expect(broker.consumers.members('pop-group').map((m) => m.consumeType)).toEqual(['POP']);
    expect(expectSuccess(await pusher.rpc.request(broker.address, RequestCode.GET_CONSUMER_LIST, { group: 'pop-group' })).header.clientIds).toEqual([]);
    // A push consumer cannot join it, nor pull (and commit offsets) for it; nothing of the heartbeat is recorded.
    const rejected = await pusher.rpc.request(broker.address, RequestCode.HEARTBEAT, { ...heartbeat('client-a', 'pop-group'), producerGroups: ['producers'] });
    conflict(rejected);
    expect(String(rejected.header.error)).toContain('client-p');
    expect(broker.consumers.clientIds('pop-group')).toEqual(['client-p']);
    expect(broker.producers.groupNames()).not.toContain('producers');
    conflict(await pusher.rpc.request(broker.address, RequestCode.PULL_MESSAGE, pullRequest('pop-group')));
    expectSuccess(await popper.rpc.request(broker.address, RequestCode.POP_MESSAGE, popRequest('pop-group')));

    // A push group: no pop heartbeat, no pop.
    expectSuccess(await pusher.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a', 'push-group')));
    conflict(await popper.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-p', 'push-group', 'POP')));
    conflict(await popper.rpc.request(broker.address, RequestCode.POP_MESSAGE, popRequest('push-group')));
    expect(broker.consumers.clientIds('push-group')).toEqual(['client-a']);

    // Once the pop members are gone, the group may be used by push consumers.
    await popper.rpc.close();
    await waitFor(() => broker.consumers.clientIds('pop-group').length === 0, 10_000, 'client-p to leave');
    expectSuccess(await pusher.rpc.request(broker.address, RequestCode.HEARTBEAT, heartbeat('client-a', 'pop-group')));
    expect(expectSuccess(await pusher.rpc.request(broker.address, RequestCode.GET_CONSUMER_LIST, { group: 'pop-group' })).header.clientIds).toEqual(['client-a']);
  });
});
