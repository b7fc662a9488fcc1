import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '@litemq/client';
import { RequestCode, ResponseCode, RpcClient, encodeRecord, encodeFrame } from '@litemq/protocol';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

/** Writes raw bytes on a fresh connection and resolves once the broker closes it. */
function sendRawAndAwaitClose(address: string, bytes: Buffer): Promise<void> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host);
    socket.once('connect', () => socket.write(bytes));
    socket.once('error', () => undefined);
    socket.once('close', () => resolve());
    setTimeout(() => reject(new Error('the broker kept a connection that sent a bad frame')), 10_000).unref();
  });
}

describe('bad input against a running broker', () => {
  it('gets a clear error, fails only that request or connection, and loses nothing stored', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const server = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'error']);
    const ready = await waitReady(server);
    const nameServer = String(ready.nameServer);
    const broker = String(ready.broker);

    const producer = new Producer({ nameServers: [nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    const stored = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.send({ topic: 'safe', body: `kept-${i}`, shardingKey: 'one-queue' })));
    const rpc = new RpcClient();
    cleanups.push(() => rpc.close());
    const queueId = stored[0]!.queueId;

    // A malformed frame (unknown version) and a frame claiming 1 GiB: each closes only its own connection.
    const badVersion = encodeFrame({ code: RequestCode.SEND_MESSAGE, opaque: 1 });
    badVersion[4] = 99;
    await sendRawAndAwaitClose(broker, badVersion);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(1024 * 1024 * 1024, 0);
    await sendRawAndAwaitClose(broker, huge);

    // An oversize message: 4 MiB + 1 byte of body.
    const oversize = encodeRecord({ topic: 'safe', body: Buffer.alloc(4 * 1024 * 1024 + 1) }, { maxBodyBytes: 8 * 1024 * 1024, queueId });
    const tooBig = await rpc.request(broker, RequestCode.SEND_MESSAGE, {}, oversize, { timeoutMs: 10_000 });
    expect(tooBig.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(String(tooBig.header.error)).toMatch(/4194305 bytes/);

    // An invalid topic name, smuggled past the client-side check by editing the record's bytes.
    const record = encodeRecord({ topic: 'validname', body: 'x' }, { queueId });
    const topicAt = record.indexOf('validname');
    record.write('bad name!', topicAt, 'latin1');
    const badTopic = await rpc.request(broker, RequestCode.SEND_MESSAGE, {}, record);
    expect(badTopic.code).not.toBe(ResponseCode.SUCCESS);
    expect(String(badTopic.header.errorCode)).toBe('TOPIC_NAME_INVALID');
    expect(String(badTopic.header.error)).toContain('bad name!');

    // A producer may not write to a system topic.
    const system = await rpc.request(broker, RequestCode.SEND_MESSAGE, {}, encodeRecord({ topic: '%DLQ%group', body: 'x' }, { allowSystemTopic: true }));
    expect(system.code).toBe(ResponseCode.NO_PERMISSION);

    // An unknown command and a pull for an unknown topic.
    const unknown = await rpc.request(broker, 999);
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    const pull = await rpc.request(broker, RequestCode.PULL_MESSAGE, { group: 'g', topic: 'no-such-topic', queueId: 0, offset: 0, maxCount: 10 });
    expect(pull.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(String(pull.header.error)).toContain('no-such-topic');

    // The broker still serves, and everything stored before is intact.
    const later = await producer.send({ topic: 'safe', body: 'after the abuse', shardingKey: 'one-queue' });
    expect(later.queueOffset).toBe(stored.at(-1)!.queueOffset + 1);
    const bodies = new Set<string>();
    const consumer = new PushConsumer({ nameServers: [nameServer], group: 'checker', consumeFromWhere: 'FIRST_OFFSET' });
    consumer.subscribe('safe');
    cleanups.push(() => consumer.close());
    await consumer.start((message) => {
      bodies.add(message.body.toString());
    });
    await eventually(() => (bodies.size === 101 ? true : undefined), 20_000, 'all 101 messages');
    expect([...bodies].sort()).toEqual([...Array.from({ length: 100 }, (_, i) => `kept-${i}`), 'after the abuse'].sort());
  });
});
