import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RecordField, RequestCode, ResponseCode, decodeRecords, encodeFrame, encodeRecord, isRetriableResponse } from '@litemq/protocol';
import { batch, client, pull, readable, record, startBroker, waitFor } from './helpers.js';

/** Writes raw bytes on a fresh socket and resolves when the broker closes it. */
function closedAfter(address: string, bytes: Buffer): Promise<void> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port) }, () => socket.write(bytes));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    setTimeout(() => reject(new Error('the broker did not close the connection')), 10_000).unref();
  });
}

describe('bad input', () => {
  it('rejects each bad request precisely, stores nothing of it, and keeps serving everyone else', async () => {
    const broker = await startBroker({ maxMessageBytes: 1024, maxFrameBytes: 64 * 1024 });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, batch('keep', 5));
    await readable(broker, 'keep', 0, 5);
    const maxCommitLog = () => broker.store.maxOffset;
    const before = maxCommitLog();

    // A malformed frame and an oversize frame close only their own connection.
    await closedAfter(broker.address, Buffer.from('this is not a LiteMQ frame at all........'));
    const oversize = Buffer.alloc(16);
    oversize.writeUInt32BE(1024 * 1024, 0);
    await closedAfter(broker.address, oversize);

    // Oversize message: MESSAGE_ILLEGAL naming the size.
    const big = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, encodeRecord({ topic: 'keep', body: Buffer.alloc(2000) }, { maxBodyBytes: 10_000 }));
    expect(big.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(big.header.errorCode).toBe('MESSAGE_TOO_LARGE');
    expect(String(big.header.error)).toContain('2000');

    // Invalid topic name inside a record (patched past the encoder's own check).
    const badName = record('abc', 'x');
    badName[badName.indexOf('abc', RecordField.BODY) + 1] = '/'.charCodeAt(0);
    const name = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, badName);
    expect(name.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(name.header.errorCode).toBe('TOPIC_NAME_INVALID');
    expect(String(name.header.error)).toContain('a/c');

    // System topics cannot be written by producers.
    const system = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, encodeRecord({ topic: '%RETRY%g1', body: 'x' }, { allowSystemTopic: true }));
    expect(system.code).toBe(ResponseCode.NO_PERMISSION);

    // Body CRC mismatch.
    const corrupt = record('keep', 'hello');
    corrupt[RecordField.BODY] ^= 0xff;
    const crc = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, corrupt);
    expect(crc.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(crc.header.errorCode).toBe('RECORD_CRC_MISMATCH');

    // Queue id beyond the topic's write queues.
    const queue = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('keep', 'x', 8));
    expect(queue.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(String(queue.header.error)).toContain('queue id 8');

    // A valid record followed by a truncated one: the whole frame is refused, the valid record too.
    const truncated = Buffer.concat([record('keep', 'valid'), record('keep', 'cut').subarray(0, 40)]);
    expect((await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, truncated)).code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    // A bad record in a batch to a new topic: the topic is not created either.
    const half = Buffer.concat([record('fresh', 'ok'), corrupt]);
    expect((await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, half)).code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(broker.topics.get('fresh')).toBeUndefined();

    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, Buffer.alloc(0))).code).toBe(ResponseCode.INVALID_REQUEST);
    expect((await rpc.request(broker.address, 999, {})).code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    const noTopic = await rpc.request(broker.address, RequestCode.PULL_MESSAGE, { group: 'g', queueId: 0, offset: 0, maxCount: 1 });
    expect(noTopic.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(String(noTopic.header.error)).toContain('topic');
    expect((await pull(rpc, broker.address, { topic: 'unknown' })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    const negative = await pull(rpc, broker.address, { topic: 'keep', offset: -1 });
    expect(negative.code).toBe(ResponseCode.INVALID_REQUEST);

    // Nothing of the bad requests was stored; what was stored before is intact; the broker still serves.
    expect(maxCommitLog()).toBe(before);
    const ok = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('keep', 'after'));
    expect(ok.code).toBe(ResponseCode.SUCCESS);
    await readable(broker, 'keep', 0, 6);
    const all = await pull(rpc, broker.address, { topic: 'keep', maxCount: 100 });
    expect(decodeRecords(all.body).map((message) => message.body.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'after']);
  });

  it('serves a well-formed frame sent on a raw socket', async () => {
    const broker = await startBroker();
    const frame = encodeFrame({ code: RequestCode.LIST_TOPICS, opaque: 7, header: {} });
    const [host, port] = broker.address.split(':');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => socket.write(frame));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data);
      });
      socket.on('error', reject);
    });
    expect(reply.readUInt32BE(8)).toBe(7); // the opaque is echoed
  });
});

describe('a full or busy store', () => {
  it('answers DISK_FULL (retriable) when the store refuses writes, and keeps serving reads', async () => {
    let full = false;
    const broker = await startBroker({ store: { diskUsageProbe: async () => ({ totalBytes: 100, freeBytes: full ? 1 : 90 }) } });
    const rpc = client();
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('d', 'before'))).code).toBe(ResponseCode.SUCCESS);
    full = true;
    await waitFor(async () => (await broker.store.runRetention()).refusingWrites, 10_000, 'the store to refuse writes');
    const refused = await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('d', 'refused'));
    expect(refused.code).toBe(ResponseCode.DISK_FULL);
    expect(isRetriableResponse(refused.code)).toBe(true);
    await readable(broker, 'd', 0, 1);
    const reply = await pull(rpc, broker.address, { topic: 'd' });
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['before']);
    full = false;
    await waitFor(async () => !(await broker.store.runRetention()).refusingWrites, 10_000, 'the store to accept writes');
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('d', 'after'))).code).toBe(ResponseCode.SUCCESS);
  });

  it('answers SYSTEM_BUSY instead of queueing without bound when too many send bytes wait for the store', async () => {
    const broker = await startBroker({ maxPendingSendBytes: 4096 });
    const rpc = client();
    const body = () => batch('busy', 20);
    const replies = await Promise.all(Array.from({ length: 50 }, () => rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body())));
    const codes = new Set(replies.map((reply) => reply.code));
    expect([...codes].every((code) => code === ResponseCode.SUCCESS || code === ResponseCode.SYSTEM_BUSY)).toBe(true);
    expect(codes.has(ResponseCode.SUCCESS)).toBe(true);
  });
});
