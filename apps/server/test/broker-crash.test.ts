import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

describe('a broker in sync-flush mode killed with SIGKILL during production', () => {
  it('loses nothing it acknowledged', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const args = ['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn', '--set', 'broker.store.flushMode=sync'];
    const first = startLiteMQ(args);
    const { nameServer } = await waitReady(first);

    const producer = new Producer({ nameServers: [String(nameServer)], retries: 0, sendTimeoutMs: 2000 });
    await producer.start();
    cleanups.push(() => producer.close());
    const acked = new Set<string>();
    let sent = 0;
    let stop = false;
    // Eight senders keep sending until the broker dies under them.
    const senders = Array.from({ length: 8 }, async (_, sender) => {
      while (!stop) {
        const body = `s${sender}-${sent++}`;
        try {
          await producer.send({ topic: 'ledger', body });
          acked.add(body);
        } catch {
          return; // the broker is gone: this send was never acknowledged
        }
      }
    });
    await eventually(() => (acked.size >= 3000 ? true : undefined), 30_000, '3000 acknowledged sends');
    first.kill('SIGKILL');
    await first.exited;
    stop = true;
    await Promise.all(senders);
    expect(acked.size).toBeGreaterThanOrEqual(3000);

    const second = startLiteMQ(args);
    const ready = await waitReady(second);
    const received = new Set<string>();
    const consumer = new PushConsumer({ nameServers: [String(ready.nameServer)], group: 'auditor', consumeFromWhere: 'FIRST_OFFSET', pullBatchSize: 256 });
    consumer.subscribe('ledger');
    cleanups.push(() => consumer.close());
    await consumer.start((message) => {
      received.add(message.body.toString());
    });
    await eventually(() => ([...acked].every((body) => received.has(body)) ? true : undefined), 60_000, 'every acknowledged message readable after restart');
    expect([...acked].filter((body) => !received.has(body))).toEqual([]);
  });
});
