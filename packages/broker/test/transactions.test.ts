import { describe, expect, it } from 'vitest';
import type { Frame, RpcConnection } from '@litemq/protocol';
import { RecordFlag, RequestCode, ResponseCode, decodeRecords, encodeRecord, expectSuccess } from '@litemq/protocol';
import { client, pull, startBroker, tempDir, waitFor } from './helpers.js';

function half(body: string, queueId = 0): Buffer {
  return encodeRecord({ topic: 'orders', body, keys: 'k' }, { flags: RecordFlag.TX_PREPARED, queueId });
}

async function sendHalf(rpc: ReturnType<typeof client>, address: string, body: string): Promise<{ halfOffset: number; msgId: string }> {
  const frame = expectSuccess(await rpc.request(address, RequestCode.SEND_HALF, { producerGroup: 'pg', transactionId: `tx-${body}` }, half(body)));
  return { halfOffset: frame.header.halfOffset as number, msgId: frame.header.msgId as string };
}

async function visible(rpc: ReturnType<typeof client>, address: string): Promise<string[]> {
  const frame = await pull(rpc, address, { topic: 'orders', queueId: 0, maxCount: 100 });
  return frame.code === ResponseCode.SUCCESS ? decodeRecords(frame.body).map((m) => m.body.toString()) : [];
}

describe('broker transactions', () => {
  it('hides halves, commits exactly once under concurrent duplicates, and discards rollbacks', async () => {
    const broker = await startBroker();
    const rpc = client();
    const a = await sendHalf(rpc, broker.address, 'a');
    const b = await sendHalf(rpc, broker.address, 'b');
    expect(await visible(rpc, broker.address)).toEqual([]);
    const ends = await Promise.all(
      Array.from({ length: 10 }, () => rpc.request(broker.address, RequestCode.END_TRANSACTION, { producerGroup: 'pg', transactionId: 'tx-a', halfOffset: a.halfOffset, msgId: a.msgId, resolution: 'COMMIT' })),
    );
    expect(ends.map((f) => f.code)).toEqual(Array(10).fill(ResponseCode.SUCCESS));
    expect(ends.filter((f) => f.header.applied === true)).toHaveLength(1);
    expectSuccess(await rpc.request(broker.address, RequestCode.END_TRANSACTION, { producerGroup: 'pg', transactionId: 'tx-b', halfOffset: b.halfOffset, msgId: b.msgId, resolution: 'ROLLBACK' }));
    const late = expectSuccess(
      await rpc.request(broker.address, RequestCode.END_TRANSACTION, { producerGroup: 'pg', transactionId: 'tx-b', halfOffset: b.halfOffset, msgId: b.msgId, resolution: 'COMMIT', fromCheck: true }),
    );
    expect(late.header).toMatchObject({ outcome: 'ROLLBACK', applied: false });
    expect(await visible(rpc, broker.address)).toEqual(['a']);
    const missing = await rpc.request(broker.address, RequestCode.END_TRANSACTION, { producerGroup: 'pg', transactionId: 'x', halfOffset: 1, msgId: a.msgId, resolution: 'COMMIT' });
    expect(missing.code).toBe(ResponseCode.TRANSACTION_NOT_FOUND);
  });

  it('rejects a record without the prepared flag and writes to system topics', async () => {
    const broker = await startBroker();
    const rpc = client();
    const plain = await rpc.request(broker.address, RequestCode.SEND_HALF, { producerGroup: 'pg', transactionId: 't' }, encodeRecord({ topic: 'orders', body: 'x' }));
    expect(plain.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    const noGroup = await rpc.request(broker.address, RequestCode.SEND_HALF, { transactionId: 't' }, half('x'));
    expect(noGroup.code).toBe(ResponseCode.INVALID_REQUEST);
  });

  it('checks back through a live producer of the group, lists and force-ends pending transactions', async () => {
    const broker = await startBroker({ transaction: { immunityMs: 50, checkIntervalMs: 100, scanIntervalMs: 20 } });
    const checks: Frame[] = [];
    const producer = client({
      onRequest: (frame: Frame, connection: RpcConnection) => {
        checks.push(frame);
        connection.respond(frame, ResponseCode.SUCCESS);
        if (checks.length === 2) {
          void connection.request(RequestCode.END_TRANSACTION, { ...frame.header, resolution: 'COMMIT', fromCheck: true });
        }
      },
    });
    expectSuccess(await producer.request(broker.address, RequestCode.HEARTBEAT, { clientId: 'p1', producerGroups: ['pg'], consumers: [] }));
    const a = await sendHalf(producer, broker.address, 'a');
    const b = await sendHalf(producer, broker.address, 'b');
    await waitFor(async () => (await visible(producer, broker.address)).includes('a') || (await visible(producer, broker.address)).includes('b'), 10_000, 'a checked commit');
    expect(checks[0]!.header).toMatchObject({ producerGroup: 'pg' });
    expect(decodeRecords(checks[0]!.body)[0]!.systemProperties.$originTopic).toBe('orders');

    const admin = client();
    const listed = expectSuccess(await admin.request(broker.address, RequestCode.LIST_PENDING_TRANSACTIONS, {}));
    expect(listed.header.total).toBe(1);
    const [pending] = listed.header.transactions as Array<{ msgId: string; checks: number; producerGroup: string; topic: string }>;
    expect(pending).toMatchObject({ producerGroup: 'pg', topic: 'orders' });
    expect([a.msgId, b.msgId]).toContain(pending!.msgId);
    const forced = expectSuccess(await admin.request(broker.address, RequestCode.FORCE_END_TRANSACTION, { msgId: pending!.msgId, resolution: 'ROLLBACK' }));
    expect(forced.header).toMatchObject({ outcome: 'ROLLBACK', applied: true });
    expect((await visible(producer, broker.address))).toHaveLength(1);
    expect(expectSuccess(await admin.request(broker.address, RequestCode.LIST_PENDING_TRANSACTIONS, {})).header.total).toBe(0);
  });

  it('keeps pending transactions across a restart and rejects bad transaction options', async () => {
    const dataDir = await tempDir();
    const first = await startBroker({ dataDir });
    const rpc = client();
    const a = await sendHalf(rpc, first.address, 'a');
    await first.close();
    const second = await startBroker({ dataDir });
    const listed = expectSuccess(await rpc.request(second.address, RequestCode.LIST_PENDING_TRANSACTIONS, {}));
    expect(listed.header.total).toBe(1);
    expectSuccess(await rpc.request(second.address, RequestCode.END_TRANSACTION, { producerGroup: 'pg', transactionId: 'tx-a', halfOffset: a.halfOffset, msgId: a.msgId, resolution: 'COMMIT' }));
    expect(await visible(rpc, second.address)).toEqual(['a']);
    await expect(startBroker({ transaction: { exhaustionPolicy: 'drop' as 'keep' } })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});
