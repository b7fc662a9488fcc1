import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, expectSuccess } from '@litemq/protocol';
import { batch, client, pull, readable, record, startBroker, tempDir } from './helpers.js';

describe('topics', () => {
  it('creates, updates, lists, reads and deletes topics, persisted across restarts', async () => {
    const dataDir = await tempDir();
    const first = await startBroker({ dataDir });
    const rpc = client();
    const created = await rpc.request(first.address, RequestCode.CREATE_TOPIC, { topic: 'orders', readQueueNums: 4, writeQueueNums: 4, perm: 6 });
    expect(created.code).toBe(ResponseCode.SUCCESS);
    expect(created.header).toEqual({ topic: 'orders', readQueueNums: 4, writeQueueNums: 4, perm: 6 });
    await rpc.request(first.address, RequestCode.CREATE_TOPIC, { topic: 'payments' });
    await rpc.request(first.address, RequestCode.CREATE_TOPIC, { topic: 'orders', readQueueNums: 2, writeQueueNums: 2, perm: 6 });
    const got = expectSuccess(await rpc.request(first.address, RequestCode.GET_TOPIC_CONFIG, { topic: 'orders' }));
    expect(got.header).toEqual({ topic: 'orders', readQueueNums: 2, writeQueueNums: 2, perm: 6 });
    const listed = expectSuccess(await rpc.request(first.address, RequestCode.LIST_TOPICS, {}));
    expect((listed.header.topics as Array<{ topic: string }>).map((topic) => topic.topic)).toEqual(['orders', 'payments']);
    expect(JSON.parse(await readFile(first.topics.path, 'utf8')).topics).toHaveLength(2);
    await first.close();

    const second = await startBroker({ dataDir });
    expect(second.topics.list().map((topic) => topic.topic)).toEqual(['orders', 'payments']);
    expect(second.topics.get('payments')).toEqual({ topic: 'payments', readQueueNums: 8, writeQueueNums: 8, perm: 6 });
    expect((await rpc.request(second.address, RequestCode.DELETE_TOPIC, { topic: 'payments' })).code).toBe(ResponseCode.SUCCESS);
    expect((await rpc.request(second.address, RequestCode.DELETE_TOPIC, { topic: 'payments' })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await rpc.request(second.address, RequestCode.GET_TOPIC_CONFIG, { topic: 'payments' })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('rejects bad topic configs with INVALID_REQUEST', async () => {
    const broker = await startBroker();
    const rpc = client();
    const zero = await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 't', readQueueNums: 0, writeQueueNums: 1, perm: 6 });
    expect(zero.code).toBe(ResponseCode.INVALID_REQUEST);
    const perm = await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 't', readQueueNums: 1, writeQueueNums: 1, perm: 9 });
    expect(perm.code).toBe(ResponseCode.INVALID_REQUEST);
    const name = await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'bad/name' });
    expect(name.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(String(name.header.error)).toContain('bad/name');
    const system = await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: '%RETRY%g' });
    expect(system.code).toBe(ResponseCode.INVALID_REQUEST);
  });

  it('answers TOPIC_NOT_EXIST for sends to unknown topics when autoCreateTopic is off, and for pulls', async () => {
    const broker = await startBroker({ autoCreateTopic: false });
    const rpc = client();
    const send = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('nope', 'x'));
    expect(send.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(String(send.header.error)).toContain('nope');
    expect((await pull(rpc, broker.address, { topic: 'nope' })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(broker.topics.get('nope')).toBeUndefined();
    expect(broker.store.topics()).not.toContain('nope');
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'nope', readQueueNums: 1, writeQueueNums: 1, perm: 6 });
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('nope', 'x'))).code).toBe(ResponseCode.SUCCESS);
  });

  it('enforces topic permissions and forgets offsets of deleted topics', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'ro', readQueueNums: 1, writeQueueNums: 1, perm: 4 });
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('ro', 'x'))).code).toBe(ResponseCode.NO_PERMISSION);
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'wo', readQueueNums: 1, writeQueueNums: 1, perm: 2 });
    expect((await pull(rpc, broker.address, { topic: 'wo' })).code).toBe(ResponseCode.NO_PERMISSION);

    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('gone', 3));
    await readable(broker, 'gone', 0, 3);
    await rpc.request(broker.address, RequestCode.COMMIT_OFFSET, { group: 'g', offsets: [{ topic: 'gone', queueId: 0, offset: 2 }] });
    expect(broker.offsets.committed('g', 'gone', 0)).toBe(2);
    await rpc.request(broker.address, RequestCode.DELETE_TOPIC, { topic: 'gone' });
    expect(broker.offsets.committed('g', 'gone', 0)).toBe(-1);
  });
});
