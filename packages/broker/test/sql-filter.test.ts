import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, decodeRecords } from '@litemq/protocol';
import { client, pull, readable, record, startBroker } from './helpers.js';

describe('SQL property filters on pull', () => {
  it('drops the records the filter rejects and still advances nextOffset', async () => {
    const broker = await startBroker();
    const rpc = client();
    const body = Buffer.concat([
      record('s', 'eu-150', 0, { tags: 'a', properties: { region: 'eu', amount: '150' } }),
      record('s', 'us-500', 0, { tags: 'a', properties: { region: 'us', amount: '500' } }),
      record('s', 'eu-50', 0, { tags: 'b', properties: { region: 'eu', amount: '50' } }),
      record('s', 'none', 0),
      record('s', 'eu-101', 0, { tags: 'b', properties: { region: 'eu', amount: '101' } }),
    ]);
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body);
    await readable(broker, 's', 0, 5);
    const reply = await pull(rpc, broker.address, { topic: 's', maxCount: 32, sql: "region = 'eu' AND amount > 100" });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['eu-150', 'eu-101']);
    expect(reply.header).toMatchObject({ count: 2, nextOffset: 5 });

    const tags = await pull(rpc, broker.address, { topic: 's', maxCount: 32, sql: "TAGS = 'b' OR region IS NULL" });
    expect(decodeRecords(tags.body).map((message) => message.body.toString())).toEqual(['eu-50', 'none', 'eu-101']);
  });

  it('answers PULL_NOT_FOUND past the filtered-out records when nothing matches', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, Buffer.concat([record('n', 'x', 0, { properties: { k: '1' } }), record('n', 'y', 0, { properties: { k: '2' } })]));
    await readable(broker, 'n', 0, 2);
    const reply = await pull(rpc, broker.address, { topic: 'n', maxCount: 32, sql: 'k > 5' });
    expect(reply.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(reply.header.nextOffset).toBe(2);
  });

  it('rejects a malformed expression with INVALID_REQUEST naming the position', async () => {
    const broker = await startBroker();
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('bad', 'x'));
    await readable(broker, 'bad', 0, 1);
    const reply = await pull(rpc, broker.address, { topic: 'bad', sql: "region = 'eu' AND" });
    expect(reply.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(reply.header.errorCode).toBe('FILTER_EXPRESSION_INVALID');
    expect(reply.header.error).toContain('position 17');
  });
});
