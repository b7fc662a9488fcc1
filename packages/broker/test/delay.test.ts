import { describe, expect, it } from 'vitest';
import type { Frame } from '@litemq/protocol';
import { RequestCode, ResponseCode, decodeRecord, decodeRecords } from '@litemq/protocol';
import { client, pull, readable, record, startBroker } from './helpers.js';

function errorOf(frame: Frame): string {
  return String(frame.header.error);
}

async function delivered(rpc: ReturnType<typeof client>, address: string, topic: string) {
  const frame = await pull(rpc, address, { topic, queueId: 0, offset: 0, maxCount: 100 });
  return frame.body.length === 0 ? [] : decodeRecords(frame.body);
}

describe('delayed messages', () => {
  it('stores a delayed record under the timer topic and delivers it at its time with its id, keys, tags and properties', async () => {
    const broker = await startBroker({ timer: { precisionMs: 50 } });
    const rpc = client();
    const sent = record('D', 'later', 0, { delayMs: 600, keys: ['k1', 'k2'], tags: 'TA', properties: { p: 'v' } });
    const sentAt = Date.now();
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, sent);
    expect(broker.store.queueOffsets('D', 0)?.maxOffset ?? 0).toBe(0);
    await readable(broker, 'D', 0, 1);
    const arrivedAt = Date.now();
    expect(arrivedAt - sentAt).toBeGreaterThanOrEqual(600);
    const [message] = await delivered(rpc, broker.address, 'D');
    const original = decodeRecord(sent);
    expect(message!.msgId).toBe(original.msgId);
    expect(message!.keys).toEqual(['k1', 'k2']);
    expect(message!.tags).toBe('TA');
    expect(message!.properties).toEqual({ p: 'v' });
    expect(Number(message!.systemProperties.$scheduledAt)).toBeGreaterThanOrEqual(sentAt + 600);
    expect(message!.systemProperties.$originTopic).toBeUndefined();
  });

  it('delivers a negative delay or a past deliverAt at once, and refuses a delay beyond the maximum', async () => {
    const broker = await startBroker({ timer: { maxDelayMs: 60_000 } });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('N', 'neg', 0, { delayMs: -5_000 }));
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('N', 'past', 0, { deliverAt: Date.now() - 60_000 }));
    await readable(broker, 'N', 0, 2);
    const error = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('N', 'far', 0, { delayMs: 120_000 }));
    expect(error.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(errorOf(error)).toMatch(/maximum delay of 60000 ms/);
  });

  it('cancels a scheduled message by id', async () => {
    const broker = await startBroker();
    const rpc = client();
    const drop = record('C', 'drop', 0, { delayMs: 400 });
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, drop);
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('C', 'keep', 0, { delayMs: 500 }));
    const cancelled = await rpc.request(broker.address, RequestCode.CANCEL_SCHEDULED, { msgId: decodeRecord(drop).msgId });
    expect(cancelled.code).toBe(ResponseCode.SUCCESS);
    await readable(broker, 'C', 0, 1);
    const messages = await delivered(rpc, broker.address, 'C');
    expect(messages.map((m) => m.body.toString())).toEqual(['keep']);
    const missing = await rpc.request(broker.address, RequestCode.CANCEL_SCHEDULED, { msgId: 'ab'.repeat(16) });
    expect(errorOf(missing)).toMatch(/no scheduled message/);
  });

  it('serves cron jobs over RPC', async () => {
    const broker = await startBroker();
    const rpc = client();
    const job = { id: 'j1', cron: '* * * * * *', timezone: 'Europe/Paris', topic: 'CR', template: { body: 'hi' } };
    const put = await rpc.request(broker.address, RequestCode.CRON_PUT, { job });
    expect(put.code).toBe(ResponseCode.SUCCESS);
    const next = await rpc.request(broker.address, RequestCode.CRON_NEXT, { id: 'j1', count: 3 });
    expect((next.header.times as number[]).length).toBe(3);
    const list = await rpc.request(broker.address, RequestCode.CRON_LIST, {});
    expect(list.header.total).toBe(1);
    const bad = await rpc.request(broker.address, RequestCode.CRON_PUT, { job: { ...job, id: 'j2', cron: 'every day' } });
    expect(errorOf(bad)).toMatch(/invalid cron expression "every day"/);
    await rpc.request(broker.address, RequestCode.CRON_PAUSE, { id: 'j1' });
    const deleted = await rpc.request(broker.address, RequestCode.CRON_DELETE, { id: 'j1' });
    expect(deleted.header.deleted).toBe(true);
  });
});
