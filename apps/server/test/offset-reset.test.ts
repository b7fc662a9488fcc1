import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

async function runCli(args: string[]): Promise<Array<Record<string, unknown>>> {
  const proc = startLiteMQ(args);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`litemq ${args.join(' ')} exited with ${String(code)}: ${proc.stderr}`);
  return proc.lines;
}

describe('offset reset and lag through real processes', () => {
  it('a reset to a timestamp makes a connected consumer replay exactly from there; lag reads 0 before the reset', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const proc = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true']);
    const nameServer = String((await waitReady(proc)).nameServer);
    const producer = new Producer({ nameServers: [nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    for (let i = 0; i < 20; i++) await producer.send({ topic: 'events', body: `before-${i}` });
    // Store timestamps have millisecond resolution: leave a gap on both sides of the reset time.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const resetTo = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    for (let i = 0; i < 20; i++) await producer.send({ topic: 'events', body: `after-${i}` });

    const seen = new Map<string, number>();
    const consumer = new PushConsumer({ nameServers: [nameServer], group: 'replay', consumeFromWhere: 'FIRST_OFFSET', routeRefreshMs: 200, rebalanceIntervalMs: 30_000, commitIntervalMs: 100 });
    consumer.subscribe('events');
    cleanups.push(() => consumer.close());
    await consumer.start((message) => {
      const body = message.body.toString();
      seen.set(body, (seen.get(body) ?? 0) + 1);
    });
    await eventually(() => (seen.size === 40 ? true : undefined), 20_000, 'all 40 messages');
    const lagged = await eventually(async () => {
      const lines = await runCli(['offset', 'lag', '--group', 'replay', '--topic', 'events', '--namesrv', nameServer]);
      return lines.at(-1)!.totalLag === 0 ? lines : undefined;
    }, 20_000, 'lag 0');
    expect(lagged.at(-1)).toMatchObject({ group: 'replay', lagByTopic: { events: 0 }, totalLag: 0 });

    const reset = await runCli(['offset', 'reset', '--group', 'replay', '--to', String(resetTo), '--namesrv', nameServer]);
    const summary = reset.at(-1)!;
    expect(summary).toMatchObject({ group: 'replay', notifiedClients: 1 });
    const queues = reset.slice(0, -1) as Array<{ topic: string; offset: number; previous: number }>;
    expect(queues.every((q) => q.topic === 'events')).toBe(true);
    expect(queues.reduce((sum, q) => sum + (q.previous - q.offset), 0)).toBe(20);

    // The connected consumer replays the 20 later messages (no restart, no rebalance interval) and nothing before.
    await eventually(() => ([...seen].filter(([body, count]) => body.startsWith('after-') && count === 2).length === 20 ? true : undefined), 20_000, 'replay of the later 20');
    for (const [body, count] of seen) if (body.startsWith('before-')) expect(count).toBe(1);
  }, 60_000);
});
