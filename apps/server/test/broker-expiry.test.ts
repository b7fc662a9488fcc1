import { afterEach, describe, expect, it } from 'vitest';
import { Admin, Producer } from '@litemq/client';
import type { ClusterFixture } from './cluster-fixture.js';
import { createTopic, startCluster } from './cluster-fixture.js';
import { eventually } from './process-harness.js';

let cluster: ClusterFixture | undefined;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await cluster?.cleanup();
  cluster = undefined;
});

describe('broker liveness', () => {
  it('drops a broker silent past the expiry from routes, and producers move to the other broker', async () => {
    cluster = await startCluster(2, {
      nameServerSettings: ['nameserver.brokerExpiryMs=1500', 'nameserver.scanIntervalMs=100'],
      brokerSettings: ['broker.registerIntervalMs=300'],
    });
    await createTopic(cluster.nameServer, 'jobs', 2);
    const admin = new Admin({ nameServers: [cluster.nameServer] });
    closers.push(() => admin.close());
    const producer = new Producer({ nameServers: [cluster.nameServer], routeRefreshMs: 200, sendTimeoutMs: 1000 });
    await producer.start();
    closers.push(() => producer.close());
    const before = await Promise.all(Array.from({ length: 64 }, (_, i) => producer.send({ topic: 'jobs', body: `before-${i}` })));
    expect(new Set(before.map((result) => result.brokerName))).toEqual(new Set(['broker-a', 'broker-b']));

    // SIGSTOP freezes broker-a: its process and connections stay open but it stops heartbeating.
    const [silent] = cluster.brokers;
    silent!.process.kill('SIGSTOP');
    const route = await eventually(async () => {
      const current = await admin.getRoute('jobs');
      return current.brokers.length === 1 ? current : undefined;
    }, 15_000, 'broker-a dropped from the route');
    expect(route.brokers.map((broker) => broker.brokerName)).toEqual(['broker-b']);
    const info = await admin.clusterInfo();
    expect(info.brokers.map((broker) => broker.brokerName)).toEqual(['broker-b']);

    const after = await Promise.all(Array.from({ length: 64 }, (_, i) => producer.send({ topic: 'jobs', body: `after-${i}` })));
    expect(new Set(after.map((result) => result.brokerName))).toEqual(new Set(['broker-b']));
    silent!.process.kill('SIGCONT');
  });
});
