import { afterEach, describe, expect, it } from 'vitest';
import { Admin, Producer, PushConsumer } from '@litemq/client';
import type { SubscriptionFilter } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

const TOPIC = 'payments';
const COUNT = 300;
const TAGS = ['TagA', 'TagB', 'TagC', undefined] as const;
const REGIONS = ['eu', 'us', 'apac', undefined] as const;

interface Sent {
  body: string;
  tags: string | undefined;
  properties: Record<string, string>;
}

function messageAt(i: number): Sent {
  const properties: Record<string, string> = { amount: String((i * 37) % 250) };
  const region = REGIONS[i % REGIONS.length];
  if (region !== undefined) properties.region = region;
  if (i % 5 === 0) properties.priority = 'high';
  else if (i % 5 === 1) properties.priority = 'low';
  return { body: `m${i}`, tags: TAGS[(i >> 1) % TAGS.length], properties };
}

describe('filters through a standalone broker process', () => {
  it('Filters: tag and property filters deliver exactly the matching set', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const proc = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn']);
    const nameServer = String((await waitReady(proc)).nameServer);
    const admin = new Admin({ nameServers: [nameServer] });
    cleanups.push(() => admin.close());
    await admin.createTopic(TOPIC, { queueNums: 4 });

    const producer = new Producer({ nameServers: [nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    const sent = Array.from({ length: COUNT }, (_, i) => messageAt(i));
    await Promise.all(sent.map((m) => producer.send({ topic: TOPIC, body: m.body, ...(m.tags ? { tags: m.tags } : {}), properties: m.properties })));

    const amount = (m: Sent): number => Number(m.properties.amount);
    const groups: Array<{ group: string; filter: string | SubscriptionFilter; expected: (m: Sent) => boolean }> = [
      { group: 'tag-filter', filter: 'TagA || TagC', expected: (m) => m.tags === 'TagA' || m.tags === 'TagC' },
      { group: 'sql-filter', filter: { sql: "region = 'eu' AND amount > 100" }, expected: (m) => m.properties.region === 'eu' && amount(m) > 100 },
      {
        group: 'sql-mixed',
        filter: { sql: "(region IN ('us', 'apac') OR region IS NULL) AND amount BETWEEN 50 AND 150 AND NOT priority = 'high' OR TAGS = 'TagB'" },
        // NOT priority = 'high' is UNKNOWN (so false) when priority is missing.
        expected: (m) => ((m.properties.region !== 'eu' && amount(m) >= 50 && amount(m) <= 150 && m.properties.priority !== undefined && m.properties.priority !== 'high') || m.tags === 'TagB'),
      },
      { group: 'tags-and-sql', filter: { tags: 'TagA', sql: 'priority IS NOT NULL' }, expected: (m) => m.tags === 'TagA' && m.properties.priority !== undefined },
    ];

    const received = new Map<string, Map<string, number>>();
    for (const { group, filter } of groups) {
      const seen = new Map<string, number>();
      received.set(group, seen);
      const consumer = new PushConsumer({ nameServers: [nameServer], group, consumeFromWhere: 'FIRST_OFFSET', commitIntervalMs: 100, rebalanceIntervalMs: 500 });
      consumer.subscribe(TOPIC, filter);
      cleanups.push(() => consumer.close());
      await consumer.start((message) => void seen.set(message.body.toString(), (seen.get(message.body.toString()) ?? 0) + 1));
    }

    for (const { group, expected } of groups) {
      const want = sent.filter(expected).map((m) => m.body).sort();
      expect(want.length).toBeGreaterThan(0);
      expect(want.length).toBeLessThan(COUNT);
      const seen = received.get(group)!;
      await eventually(() => (seen.size >= want.length ? true : undefined), 30_000, `${group}: ${want.length} matching messages`);
      // Every queue's committed offset reaches its end: the filtered-out messages were passed over, not pending.
      await eventually(async () => {
        const offsets = await admin.consumerOffsets(group, TOPIC);
        return offsets.queues.length === 4 && offsets.totalLag === 0 ? true : undefined;
      }, 30_000, `${group}: lag 0`);
      expect([...seen.keys()].sort(), group).toEqual(want);
      expect([...seen.values()].every((times) => times === 1), group).toBe(true);
    }
  }, 90_000);

  it('an invalid SQL expression is an error at subscribe time', () => {
    const consumer = new PushConsumer({ nameServers: ['127.0.0.1:1'], group: 'bad' });
    expect(() => consumer.subscribe(TOPIC, { sql: "region = 'eu' AND amount >" })).toThrow(
      expect.objectContaining({ code: 'FILTER_EXPRESSION_INVALID', position: 26 }),
    );
  });
});
