import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../src/index.js';
import type { PushConsumerOptions } from '../src/index.js';
import { startCluster, waitFor } from './fake-cluster.js';

const cleanups: Array<() => Promise<void>> = [];
const gates: Array<() => void> = [];
afterEach(async () => {
  for (const open of gates.splice(0)) open();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const cluster = await startCluster({ brokers: 1, topics: ['orders'], queueNums: 1 });
  cleanups.push(() => cluster.close());
  const producer = new Producer({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => producer.close());
  await producer.start();
  const consumer = (overrides: Partial<PushConsumerOptions> = {}) => {
    const c = new PushConsumer({ nameServers: [cluster.nameServer.address], group: 'cg', consumeFromWhere: 'FIRST_OFFSET', ...overrides }).subscribe('orders');
    cleanups.push(() => c.close());
    return c;
  };
  const send = (body: string) => producer.send({ topic: 'orders', body });
  return { broker: cluster.brokers[0]!, consumer, send };
}

describe('PushConsumer: iteration and offset moves', () => {
  it('serves concurrent next() calls one at a time, in call order, and acknowledges every message', async () => {
    const { broker, consumer, send } = await setup();
    const c = consumer();
    await c.start();
    const iterator = c[Symbol.asyncIterator]();
    // Both calls wait for messages; each must get its own, and the first must still be acknowledged.
    const first = iterator.next();
    const second = iterator.next();
    for (let i = 0; i < 4; i++) await send(`m${i}`);
    const bodies = (await Promise.all([first, second])).map((result) => (result.done ? undefined : result.value.body.toString()));
    expect(bodies).toEqual(['m0', 'm1']);
    const third = await iterator.next(); // acknowledges m1
    expect(third.done ? undefined : third.value.body.toString()).toBe('m2');
    await iterator.return!(); // hands m2 back
    await c.close();
    expect(broker.committed.get('cg@orders@0')).toBe(2);
  });

  it('restarts from the new offset when PULL_OFFSET_MOVED goes backwards, dropping the stale cache', async () => {
    const { broker, consumer, send } = await setup();
    for (let i = 0; i < 5; i++) await send(`m${i}`);
    let open!: () => void;
    const blocked = new Promise<void>((resolve) => gates.push((open = resolve)));
    const seen: string[] = [];
    const c = consumer({ concurrency: 1, commitIntervalMs: 20 });
    await c.start(async (message) => {
      seen.push(message.body.toString());
      if (message.queueOffset === 0 && seen.length === 1) await blocked;
    });
    // m0 in the handler, m1-m4 cached, the next pull (offset 5) held by the broker.
    await waitFor(() => seen.length === 1 && broker.pulls.some((p) => p.offset === 5), 5000, 'm0 in the handler and m1-m4 pulled');
    // The queue is cut back to 2 messages: the next answer moves the consumer back (5 -> 3, after x2 is stored).
    broker.queue('orders', 0).length = 2;
    await send('x2');
    await waitFor(() => broker.pulls.some((p) => p.offset === 3), 5000, 'a pull from the moved offset');
    await send('x3');
    await waitFor(() => broker.pulls.some((p) => p.offset === 4), 5000, 'x3 pulled');
    open();
    await waitFor(() => seen.includes('x3'), 5000, 'x3 delivered');
    // Nothing of the dropped cache is delivered after the move; the committed offset follows the new position.
    expect(seen).toEqual(['m0', 'x3']);
    await waitFor(() => broker.committed.get('cg@orders@0') === 4, 5000, 'offset 4 committed');
    await c.close();
    expect(broker.committed.get('cg@orders@0')).toBe(4);
  });
});
