import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '@litemq/client';
import type { ClusterFixture } from './cluster-fixture.js';
import { createTopic, startCluster } from './cluster-fixture.js';
import { eventually, killAll, startLiteMQ } from './process-harness.js';

let cluster: ClusterFixture | undefined;
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await killAll();
  await cluster?.cleanup();
  cluster = undefined;
});

function consumer(nameServer: string, group: string, topic: string, onMessage: (id: string) => void): PushConsumer {
  const c = new PushConsumer({
    nameServers: [nameServer],
    group,
    consumeFromWhere: 'FIRST_OFFSET',
    rebalanceIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    commitIntervalMs: 500,
    pullBatchSize: 256,
  });
  c.subscribe(topic);
  closers.push(() => c.close());
  void c.start((message) => onMessage(message.body.toString()));
  return c;
}

/** Sends `count` messages with up to `inFlight` outstanding; returns the bodies acknowledged. */
async function produce(producer: Producer, topic: string, count: number, inFlight = 1000, prefix = 'm'): Promise<Set<string>> {
  const acked = new Set<string>();
  for (let start = 0; start < count; start += inFlight) {
    const sends = [];
    for (let i = start; i < Math.min(count, start + inFlight); i++) {
      const body = `${prefix}${i}`;
      sends.push(producer.send({ topic, body }).then(() => acked.add(body)));
    }
    await Promise.all(sends);
  }
  return acked;
}

function assignmentIsStable(consumers: PushConsumer[], totalQueues: number): boolean {
  const counts = consumers.map((c) => c.assignedQueues().length);
  const sum = counts.reduce((a, b) => a + b, 0);
  return sum === totalQueues && Math.max(...counts) - Math.min(...counts) <= 1;
}

describe('a group of consumers on 1 NameServer + 2 brokers', () => {
  it('delivers 100,000 messages exactly once across 3 consumers when nothing fails', async () => {
    cluster = await startCluster(2);
    await createTopic(cluster.nameServer, 'orders', 2);
    const received = new Map<string, number>();
    const group = [0, 1, 2].map(() => consumer(cluster!.nameServer, 'billing', 'orders', (id) => received.set(id, (received.get(id) ?? 0) + 1)));
    await eventually(() => (assignmentIsStable(group, 16) ? true : undefined), 20_000, 'queues spread over 3 consumers');

    const producer = new Producer({ nameServers: [cluster.nameServer] });
    await producer.start();
    closers.push(() => producer.close());
    const acked = await produce(producer, 'orders', 100_000);
    expect(acked.size).toBe(100_000);

    await eventually(() => (received.size >= 100_000 ? true : undefined), 60_000, 'all messages consumed');
    const duplicates = [...received.values()].filter((times) => times > 1).length;
    expect(duplicates).toBe(0);
    for (const body of acked) expect(received.has(body)).toBe(true);
    // Both brokers took part.
    const perConsumer = group.map((c) => new Set(c.assignedQueues().map((q) => q.brokerName)));
    expect(new Set(perConsumer.flatMap((names) => [...names])).size).toBe(2);
  });

  it('rebalances queues when consumers join and leave', async () => {
    cluster = await startCluster(2);
    await createTopic(cluster.nameServer, 'events', 2);
    const noop = () => undefined;
    const first = consumer(cluster.nameServer, 'audit', 'events', noop);
    await eventually(() => (first.assignedQueues().length === 16 ? true : undefined), 20_000, 'first consumer owns every queue');
    const second = consumer(cluster.nameServer, 'audit', 'events', noop);
    await eventually(() => (assignmentIsStable([first, second], 16) && first.assignedQueues().length === 8 ? true : undefined), 20_000, 'split 8/8');
    const owned = new Set([...first.assignedQueues(), ...second.assignedQueues()].map((q) => `${q.brokerName}/${q.queueId}`));
    expect(owned.size).toBe(16);
    const third = consumer(cluster.nameServer, 'audit', 'events', noop);
    await eventually(() => (assignmentIsStable([first, second, third], 16) ? true : undefined), 20_000, 'split over 3');
    await first.close();
    await third.close();
    await eventually(() => (second.assignedQueues().length === 16 ? true : undefined), 20_000, 'the remaining consumer owns every queue again');
  });

  it('delivers at least once when a consumer process is killed mid-way', async () => {
    cluster = await startCluster(2);
    await createTopic(cluster.nameServer, 'payments', 2);
    const consumerArgs = ['consume', '-n', cluster.nameServer, '-t', 'payments', '-g', 'ledger', '--from', 'first'];
    const victim = startLiteMQ(consumerArgs);
    const survivor = startLiteMQ(consumerArgs);
    const producer = new Producer({ nameServers: [cluster.nameServer] });
    await producer.start();
    closers.push(() => producer.close());
    const acked = await produce(producer, 'payments', 20_000);
    await eventually(() => (victim.lines.length > 500 ? true : undefined), 30_000, 'the victim consumed some messages');
    victim.kill('SIGKILL');
    await victim.exited;

    const bodies = () => new Set([...victim.lines, ...survivor.lines].map((line) => String(line.body)));
    await eventually(() => (bodies().size >= acked.size ? true : undefined), 60_000, 'every acknowledged message consumed by someone');
    const consumed = bodies();
    expect([...acked].filter((body) => !consumed.has(body))).toEqual([]);
    expect(victim.lines.length).toBeGreaterThan(0);
    expect(survivor.lines.length).toBeGreaterThan(0);
  });
});
