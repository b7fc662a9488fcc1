import { afterEach, describe, expect, it } from 'vitest';
import type { FrameHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, RpcClient } from '@litemq/protocol';
import { NameServer, NameServerError } from '../src/index.js';
import { Harness, broker, silent, topic } from './helpers.js';

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

const valid = broker({ brokerAddr: '127.0.0.1:10911', topics: [topic('orders')] });

describe('request validation', () => {
  const malformed: Array<[string, FrameHeader, RegExp]> = [
    ['empty header', {}, /clusterName must be a non-empty string/],
    ['missing brokerName', { ...valid, brokerName: undefined }, /brokerName must be a non-empty string/],
    ['bad brokerName', { ...valid, brokerName: 'a b' }, /brokerName "a b" may only contain/],
    ['negative brokerId', { ...valid, brokerId: -1 }, /brokerId must be an integer/],
    ['fractional brokerId', { ...valid, brokerId: 0.5 }, /brokerId must be an integer/],
    ['bad brokerAddr', { ...valid, brokerAddr: 'nowhere' }, /brokerAddr must be a "host:port" string/],
    ['bad haAddr', { ...valid, haAddr: 42 }, /haAddr must be a "host:port" string/],
    ['string dataVersion', { ...valid, dataVersion: '1' }, /dataVersion must be an integer/],
    ['missing autoCreateTopic', { ...valid, autoCreateTopic: undefined }, /autoCreateTopic must be a boolean/],
    ['topics not an array', { ...valid, topics: 'orders' }, /topics must be an array/],
    ['topic config not a map', { ...valid, topics: ['orders'] }, /topics\[0\] must be a map/],
    ['bad topic name', { ...valid, topics: [topic('bad name')] }, /topics\[0\]\.topic: topic name "bad name"/],
    ['negative queue count', { ...valid, topics: [{ ...topic('t'), writeQueueNums: -1 }] }, /topics\[0\]\.writeQueueNums must be an integer/],
    ['bad perm', { ...valid, topics: [{ ...topic('t'), perm: 9 }] }, /topics\[0\]\.perm must be an integer in \[0, 7\]/],
    ['duplicate topic', { ...valid, topics: [topic('t'), topic('t')] }, /topic "t" appears more than once/],
  ];

  it.each(malformed)('rejects a register header with %s as INVALID_REQUEST and keeps serving', async (_name, header, message) => {
    const ns = await Harness.start();
    harnesses.push(ns);
    const error = await ns.failure(RequestCode.REGISTER_BROKER, header);
    expect(error.responseCode).toBe(ResponseCode.INVALID_REQUEST);
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toMatch(message);
    // Nothing was registered, and the same connection still works.
    expect((await ns.clusterInfo()).brokers).toEqual([]);
    await ns.register(valid);
    expect((await ns.route('orders')).brokers).toHaveLength(1);
  });

  it('rejects bad GET_ROUTE and UNREGISTER_BROKER headers as INVALID_REQUEST', async () => {
    const ns = await Harness.start();
    harnesses.push(ns);
    for (const header of [{}, { topic: '' }, { topic: 'has space' }, { topic: 7 }, { topic: '%bad' }]) {
      const error = await ns.failure(RequestCode.GET_ROUTE, header);
      expect(error.responseCode).toBe(ResponseCode.INVALID_REQUEST);
      expect(error.message).toMatch(/^topic: topic name/);
    }
    const unregister = await ns.failure(RequestCode.UNREGISTER_BROKER, { clusterName: 'c', brokerName: 'b', brokerId: 0 });
    expect(unregister.responseCode).toBe(ResponseCode.INVALID_REQUEST);
    expect(unregister.message).toMatch(/brokerAddr/);
  });

  it('accepts an absent haAddr as empty', async () => {
    const ns = await Harness.start();
    harnesses.push(ns);
    await ns.register({ ...valid, haAddr: undefined } as unknown as typeof valid);
    expect((await ns.clusterInfo()).brokers[0]!.haAddr).toBe('');
  });
});

describe('NameServer options and lifecycle', () => {
  it.each([
    [{ port: -1 }, /port must be an integer/],
    [{ port: 70_000 }, /port must be an integer/],
    [{ brokerExpiryMs: 0 }, /brokerExpiryMs must be an integer/],
    [{ scanIntervalMs: 1.5 }, /scanIntervalMs must be an integer/],
    [{ host: '' }, /host must be a non-empty string/],
    [{ defaultQueueNums: 0 }, /defaultQueueNums must be an integer/],
    [{ colour: 'blue' }, /unknown option "colour"/],
  ])('rejects %o with INVALID_OPTIONS', async (options, message) => {
    const error: unknown = await NameServer.start({ logger: silent, ...(options as object) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NameServerError);
    expect((error as NameServerError).code).toBe('INVALID_OPTIONS');
    expect((error as NameServerError).message).toMatch(message);
  });

  it('rejects a port already in use', async () => {
    const first = await NameServer.start({ logger: silent });
    try {
      await expect(NameServer.start({ logger: silent, port: first.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });

  it('stops accepting connections on close, and close is idempotent', async () => {
    const server = await NameServer.start({ logger: silent });
    const client = new RpcClient({ connectTimeoutMs: 1000 });
    try {
      await client.request(server.address, RequestCode.GET_CLUSTER_INFO);
      await Promise.all([server.close(), server.close()]);
      expect(server.closed).toBe(true);
      await client.close();
      const fresh = new RpcClient({ connectTimeoutMs: 1000 });
      await expect(fresh.request(server.address, RequestCode.GET_CLUSTER_INFO)).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
      await fresh.close();
    } finally {
      await client.close();
      await server.close();
    }
  });
});
