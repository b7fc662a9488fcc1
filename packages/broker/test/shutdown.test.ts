import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, decodeRecords } from '@litemq/protocol';
import { Broker, BrokerError } from '../src/index.js';
import { client, pull, readable, record, recordingNameServer, startBroker, tempDir } from './helpers.js';

describe('lifecycle', () => {
  it('answers held pulls, finishes in-flight sends, unregisters and closes on close()', async () => {
    const ns = await recordingNameServer();
    const dataDir = await tempDir();
    const broker = await startBroker({ dataDir, nameServers: [ns.address], longPollingMaxMs: 60_000 });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.CREATE_TOPIC, { topic: 't', readQueueNums: 2, writeQueueNums: 2, perm: 6 });
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('t', 'last', 1))).code).toBe(ResponseCode.SUCCESS);
    await readable(broker, 't', 1, 1);
    const held = [0, 1].map((queueId) => pull(rpc, broker.address, { topic: 't', queueId, offset: queueId, suspendMs: 60_000 }, 60_000));
    await expect.poll(() => broker.heldPulls).toBe(2);
    // A send racing the shutdown is either stored or refused as retriable, never lost after a SUCCESS.
    const racing = rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('t', 'racing', 0));
    const started = Date.now();
    await broker.close();
    expect(Date.now() - started).toBeLessThan(30_000);
    const replies = await Promise.all(held);
    for (const reply of replies) expect([ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND]).toContain(reply.code);
    const raced = await racing.then((frame) => frame.code, () => -1);
    expect([ResponseCode.SUCCESS, ResponseCode.SERVICE_NOT_AVAILABLE, -1]).toContain(raced);
    expect(ns.unregisters).toHaveLength(1);
    await expect(rpc.request(broker.address, RequestCode.LIST_TOPICS, {}, undefined, { timeoutMs: 2_000 })).rejects.toThrow();

    // The acknowledged message survived the shutdown.
    const again = await startBroker({ dataDir });
    await readable(again, 't', 1, 1);
    const reply = await pull(client(), again.address, { topic: 't', queueId: 1 });
    expect(decodeRecords(reply.body).map((message) => message.body.toString())).toEqual(['last']);
    if (raced === ResponseCode.SUCCESS) {
      await readable(again, 't', 0, 1);
      const racedReply = await pull(client(), again.address, { topic: 't', queueId: 0 });
      expect(decodeRecords(racedReply.body).map((message) => message.body.toString())).toEqual(['racing']);
    }
  });

  it('rejects invalid options with INVALID_OPTIONS naming the option', async () => {
    const dataDir = await tempDir();
    await expect(Broker.start({ brokerName: '', dataDir })).rejects.toThrow(/brokerName/);
    await expect(Broker.start({ brokerName: 'b', dataDir, defaultQueueNums: 0 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(Broker.start({ brokerName: 'b', dataDir, nameServers: ['nope'] })).rejects.toThrow(/nameServers/);
    await expect(Broker.start({ brokerName: 'b', dataDir, ...({ colour: 'blue' } as object) })).rejects.toThrow(/colour/);
    await expect(Broker.start({ brokerName: 'b', dataDir, port: -1 })).rejects.toBeInstanceOf(BrokerError);
  });

  it('refuses a data directory another broker holds, and reports its status', async () => {
    const dataDir = await tempDir();
    const broker = await startBroker({ dataDir });
    await expect(startBroker({ dataDir })).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    const rpc = client();
    await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('s', 'x'));
    const status = await rpc.request(broker.address, RequestCode.GET_BROKER_STATUS, {});
    expect(status.code).toBe(ResponseCode.SUCCESS);
    expect(status.header).toMatchObject({ brokerName: 'broker-a', brokerId: 0, clusterName: 'DefaultCluster', address: broker.address, topics: 1, connections: 1 });
    expect(Number(status.header.maxCommitLogOffset)).toBeGreaterThan(0);
  });
});
