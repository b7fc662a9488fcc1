import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerLiveInfo } from '@litemq/protocol';
import { RequestCode, ResponseCode, TopicPerm } from '@litemq/protocol';
import { RouteRegistry } from '../src/index.js';
import { Harness, broker, silent, topic, waitUntil } from './helpers.js';

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

const A = broker({ brokerName: 'broker-a', brokerAddr: '127.0.0.1:10911', topics: [topic('orders')] });
const B = broker({ brokerName: 'broker-b', brokerAddr: '127.0.0.1:20911', topics: [topic('payments')] });

describe('broker liveness', () => {
  it('drops a silent broker after brokerExpiryMs while a registering one stays', async () => {
    const ns = await Harness.start({ brokerExpiryMs: 300, scanIntervalMs: 25 });
    harnesses.push(ns);
    await ns.register(A);
    await ns.register(B);
    expect((await ns.clusterInfo()).brokers).toHaveLength(2);

    // B keeps registering (its heartbeat); A goes silent and must disappear.
    await waitUntil('broker-a to expire', async () => {
      await ns.register(B);
      const info = await ns.clusterInfo();
      return !info.brokers.some((b) => b.brokerName === 'broker-a');
    });
    const info = await ns.clusterInfo();
    expect(info.brokers.map((b) => b.brokerName)).toEqual(['broker-b']);
    expect(info.clusters).toEqual({ DefaultCluster: ['broker-b'] });
    expect((await ns.failure(RequestCode.GET_ROUTE, { topic: 'orders' })).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await ns.route('payments')).brokers[0]!.brokerName).toBe('broker-b');

    // A registers again and is back.
    await ns.register(A);
    expect((await ns.route('orders')).brokers[0]!.brokerName).toBe('broker-a');
  });

  it('expire(now) returns and logs the brokers it drops', () => {
    const logged: Array<Record<string, unknown>> = [];
    const logger = silent.child({});
    logger.warn = ((object: Record<string, unknown>) => void logged.push(object)) as typeof logger.warn;
    const registry = new RouteRegistry({ brokerExpiryMs: 1000, logger });
    registry.register(A, 10_000);
    registry.register(B, 10_000);
    registry.register({ ...B, topics: [topic('payments', 2, TopicPerm.READ)] }, 10_600);

    expect(registry.expire(11_000)).toEqual([]);
    const dropped: BrokerLiveInfo[] = registry.expire(11_001);
    expect(dropped).toEqual([
      { clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, brokerAddr: '127.0.0.1:10911', haAddr: '', lastUpdateTimestamp: 10_000, dataVersion: 1, topicCount: 1 },
    ]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ brokerName: 'broker-a', brokerAddr: '127.0.0.1:10911', silentMs: 1001 });
    expect(registry.brokerCount).toBe(1);
    expect(registry.topics()).toEqual(['payments']);
    expect(registry.expire(11_601).map((b) => b.brokerName)).toEqual(['broker-b']);
    expect(registry.brokerCount).toBe(0);
    expect(registry.topics()).toEqual([]);
  });

  it('rejects bad registry options', () => {
    expect(() => new RouteRegistry({ brokerExpiryMs: -5 })).toThrow(/brokerExpiryMs must be an integer/);
  });
});
