import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode } from '@litemq/protocol';
import { client, deadAddress, recordingNameServer, record, startBroker, waitFor } from './helpers.js';

describe('NameServer registration', () => {
  it('registers with every NameServer even when one is down, and again every interval', async () => {
    const live = await recordingNameServer();
    const dead = await deadAddress();
    const broker = await startBroker({ nameServers: [dead, live.address], registerIntervalMs: 50, clusterName: 'c1', brokerId: 0 });
    await waitFor(() => live.registers.length >= 2, 10_000, 'two registrations');
    expect(live.registers[0]).toMatchObject({
      clusterName: 'c1', brokerName: 'broker-a', brokerId: 0, brokerAddr: broker.address, haAddr: '', autoCreateTopic: true, topics: [],
    });
    const outcomes = await broker.registerNow();
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([false, true]);
    expect(outcomes[0]!.error).toContain(dead);
  });

  it('re-registers at once, with a higher dataVersion, when a topic is created or auto-created', async () => {
    const ns = await recordingNameServer();
    const broker = await startBroker({ nameServers: [ns.address], registerIntervalMs: 600_000 });
    await waitFor(() => ns.registers.length === 1, 10_000, 'the first registration');
    const version = Number(ns.registers[0]!.dataVersion);
    const rpc = client();
    expect((await rpc.request(broker.address, RequestCode.SEND_MESSAGE, {}, record('auto', 'x'))).code).toBe(ResponseCode.SUCCESS);
    await waitFor(() => ns.registers.some((header) => (header.topics as Array<{ topic: string }>).some((topic) => topic.topic === 'auto')), 10_000, 'registration of the new topic');
    const latest = ns.registers.at(-1)!;
    expect(Number(latest.dataVersion)).toBeGreaterThan(version);
    expect(latest.topics).toEqual([{ topic: 'auto', readQueueNums: 8, writeQueueNums: 8, perm: 6 }]);
  });

  it('unregisters from every NameServer on close', async () => {
    const a = await recordingNameServer();
    const b = await recordingNameServer();
    const broker = await startBroker({ nameServers: [a.address, b.address], clusterName: 'c1', brokerId: 1 });
    await waitFor(() => a.registers.length >= 1 && b.registers.length >= 1, 10_000, 'registrations');
    await broker.close();
    const expected = { clusterName: 'c1', brokerName: 'broker-a', brokerId: 1, brokerAddr: broker.address };
    expect(a.unregisters).toEqual([expected]);
    expect(b.unregisters).toEqual([expected]);
  });
});
