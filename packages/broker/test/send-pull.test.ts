import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, decodeRecords, tagHash } from '@litemq/protocol';
import { batch, client, pull, readable, record, sendResults, startBroker } from './helpers.js';

describe('send and pull', () => {
  it('stores a single message and a batch and serves them back by pull', async () => {
    const broker = await startBroker();
    const rpc = client();
    const single = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, { producerGroup: 'p1' }, record('orders', 'hello', 1));
    expect(single.code).toBe(ResponseCode.SUCCESS);
    expect(single.header).toMatchObject({ count: 1, brokerName: 'broker-a' });
    expect(single.header.storeTimestamp).toBeGreaterThan(0);
    expect(sendResults(single)).toEqual([[0, 0]]);

    const many = await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('orders', 10, 1, 'b'));
    expect(many.code).toBe(ResponseCode.SUCCESS);
    expect(many.header.count).toBe(10);
    const results = sendResults(many);
    expect(results.map(([queueOffset]) => queueOffset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(results[1]![1]).toBeGreaterThan(results[0]![1]);

    await readable(broker, 'orders', 1, 11);
    const first = await pull(rpc, broker.address, { topic: 'orders', queueId: 1, offset: 0, maxCount: 4 });
    expect(first.code).toBe(ResponseCode.SUCCESS);
    expect(first.header).toMatchObject({ count: 4, nextOffset: 4, minOffset: 0, maxOffset: 11 });
    const messages = decodeRecords(first.body);
    expect(messages.map((message) => message.body.toString())).toEqual(['hello', 'b0', 'b1', 'b2']);
    expect(messages[0]).toMatchObject({ topic: 'orders', queueId: 1, queueOffset: 0, storeHost: broker.address });

    const rest = await pull(rpc, broker.address, { topic: 'orders', queueId: 1, offset: 4, maxCount: 100 });
    expect(decodeRecords(rest.body).map((message) => message.queueOffset)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(rest.header.nextOffset).toBe(11);
  });

  it('auto-creates topics with defaultQueueNums and routes batches spanning topics and queues', async () => {
    const broker = await startBroker({ defaultQueueNums: 4 });
    const rpc = client();
    const body = Buffer.concat([record('a', 'a0', 0), record('b', 'b0', 3), record('a', 'a1', 0)]);
    const reply = await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body);
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect(sendResults(reply).map(([queueOffset]) => queueOffset)).toEqual([0, 0, 1]);
    expect(broker.topics.get('a')).toEqual({ topic: 'a', readQueueNums: 4, writeQueueNums: 4, perm: 6 });
    await readable(broker, 'b', 3, 1);
    const b = await pull(rpc, broker.address, { topic: 'b', queueId: 3 });
    expect(decodeRecords(b.body).map((message) => message.body.toString())).toEqual(['b0']);
  });

  it('answers PULL_NOT_FOUND at once without suspendMs, and PULL_OFFSET_MOVED outside the range', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('t', 3));
    await readable(broker, 't', 0, 3);
    const none = await pull(rpc, broker.address, { topic: 't', offset: 3 });
    expect(none.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(none.header).toMatchObject({ nextOffset: 3, maxOffset: 3, count: 0 });
    const moved = await pull(rpc, broker.address, { topic: 't', offset: 50 });
    expect(moved.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(moved.header.nextOffset).toBe(3);
    const empty = await pull(rpc, broker.address, { topic: 't', queueId: 2, offset: 7 });
    expect(empty.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(empty.header.nextOffset).toBe(0);
  });

  it('filters by tag hash on the broker', async () => {
    const broker = await startBroker();
    const rpc = client();
    const body = Buffer.concat([
      record('t', 'x1', 0, { tags: 'x' }), record('t', 'y1', 0, { tags: 'y' }), record('t', 'x2', 0, { tags: 'x' }),
    ]);
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body);
    await readable(broker, 't', 0, 3);
    const reply = await pull(rpc, broker.address, { topic: 't', tagHashes: [tagHash('y')] });
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['y1']);
    expect(reply.header.nextOffset).toBe(3);
  });

  it('holds a pull with nothing new and answers it as soon as a message arrives', async () => {
    const broker = await startBroker({ longPollingMaxMs: 10_000 });
    const consumer = client();
    const producer = client();
    await producer.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('lp', 'first'));
    await readable(broker, 'lp', 0, 1);
    const started = Date.now();
    const held = pull(consumer, broker.address, { topic: 'lp', offset: 1, suspendMs: 10_000 });
    await expect.poll(() => broker.heldPulls).toBe(1);
    await producer.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('lp', 'second'));
    const reply = await held;
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['second']);
    // Answered by the arrival, not by the 10 s long-poll timeout.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(broker.heldPulls).toBe(0);
  });

  it('answers a held filtered pull with the moved offset when only non-matching messages arrive', async () => {
    const broker = await startBroker();
    const consumer = client();
    const producer = client();
    await producer.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'f', readQueueNums: 1, writeQueueNums: 1, perm: 6 });
    const filter = { topic: 'f', suspendMs: 10_000, tagHashes: [tagHash('wanted')] };
    const held = pull(consumer, broker.address, { ...filter, offset: 0 });
    await expect.poll(() => broker.heldPulls).toBe(1);
    const started = Date.now();
    await producer.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('f', 'other', 0, { tags: 'other' }));
    // Answered at once (not at the 10 s timeout) so the consumer can move and commit past the skipped record.
    const skipped = await held;
    expect(skipped.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(skipped.header.nextOffset).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    // The next pull, from the moved offset, is held until a matching message arrives.
    const heldAgain = pull(consumer, broker.address, { ...filter, offset: 1 });
    await expect.poll(() => broker.heldPulls).toBe(1);
    await producer.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('f', 'yes', 0, { tags: 'wanted' }));
    const reply = await heldAgain;
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['yes']);
    expect(reply.header.nextOffset).toBe(2);
  });

  it('answers PULL_NOT_FOUND when the long poll times out', async () => {
    const broker = await startBroker({ longPollingMaxMs: 100 });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('idle', 'x'));
    await readable(broker, 'idle', 0, 1);
    const reply = await pull(rpc, broker.address, { topic: 'idle', offset: 1, suspendMs: 60_000 });
    expect(reply.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(reply.header.nextOffset).toBe(1);
    expect(broker.heldPulls).toBe(0);
  });

  it('caps held pulls per connection with SYSTEM_BUSY', async () => {
    const broker = await startBroker({ maxHeldPullsPerConnection: 2 });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 'cap', readQueueNums: 4, writeQueueNums: 4, perm: 6 });
    const held = [0, 1].map((queueId) => pull(rpc, broker.address, { topic: 'cap', queueId, suspendMs: 10_000 }));
    await expect.poll(() => broker.heldPulls).toBe(2);
    const third = await pull(rpc, broker.address, { topic: 'cap', queueId: 2, suspendMs: 10_000 });
    expect(third.code).toBe(ResponseCode.SYSTEM_BUSY);
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, Buffer.concat([record('cap', 'q0', 0), record('cap', 'q1', 1)]));
    expect((await Promise.all(held)).map((reply) => reply.code)).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
  });
});
