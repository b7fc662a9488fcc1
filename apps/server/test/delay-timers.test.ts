import { afterEach, describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '@litemq/client';
import type { ReceivedMessage } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

function standaloneArgs(dir: string, settings: string[] = []): string[] {
  return [
    'standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', dir, '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true',
    ...settings.flatMap((setting) => ['--set', setting]),
  ];
}

async function consume(nameServer: string, topic: string, group: string, onMessage: (message: ReceivedMessage, at: number) => void): Promise<void> {
  const consumer = new PushConsumer({ nameServers: [nameServer], group, consumeFromWhere: 'FIRST_OFFSET', pullBatchSize: 256, maxPrefetch: 100_000, routeRefreshMs: 200, rebalanceIntervalMs: 200 });
  consumer.subscribe(topic);
  cleanups.push(() => consumer.close());
  await consumer.start((message) => onMessage(message, Date.now()));
}

describe('delayed messages through a real broker process', () => {
  it('delivers delays from 100 ms to 10 s never early and within precision + margin; bad input is handled', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const proc = startLiteMQ(standaloneArgs(data.dir, ['broker.timer.maxDelayMs=3600000']));
    const { nameServer } = await waitReady(proc);
    const producer = new Producer({ nameServers: [String(nameServer)] });
    await producer.start();
    cleanups.push(() => producer.close());

    const expected = new Map<string, number>();
    const arrivals = new Map<string, { at: number; stored: number; scheduledAt: number }>();
    await consume(String(nameServer), 'acc', 'acc-reader', (message, at) => {
      arrivals.set(message.msgId, { at, stored: message.storeTimestamp, scheduledAt: Number(message.systemProperties.$scheduledAt) });
    });
    const delays = [100, 150, 250, 500, 750, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000];
    await Promise.all(delays.map(async (delayMs) => {
      const before = Date.now();
      const result = await producer.send({ topic: 'acc', body: `d${delayMs}`, delayMs });
      expected.set(result.msgId, before + delayMs);
    }));
    // Bad input: a negative delay and a past deliverAt arrive at once; beyond the maximum fails, naming it.
    const negative = await producer.send({ topic: 'acc', body: 'negative', delayMs: -1_000 });
    const past = await producer.send({ topic: 'acc', body: 'past', deliverAt: Date.now() - 60_000 });
    await expect(producer.send({ topic: 'acc', body: 'far', delayMs: 7_200_000 })).rejects.toThrow(/exceeds the maximum delay of 3600000 ms/);

    await eventually(() => (arrivals.has(negative.msgId) && arrivals.has(past.msgId) ? true : undefined), 5_000, 'immediate deliveries');
    expect(arrivals.get(negative.msgId)!.scheduledAt).toBeNaN(); // delivered directly, never scheduled
    await eventually(() => (arrivals.size === delays.length + 2 ? true : undefined), 20_000, 'every delayed message');
    for (const [msgId, due] of expected) {
      const arrival = arrivals.get(msgId)!;
      // `due` is taken before the send, so the broker's own due time is a little later: compare with it too.
      expect(arrival.stored).toBeGreaterThanOrEqual(arrival.scheduledAt);
      expect(arrival.scheduledAt).toBeGreaterThanOrEqual(due);
      expect(arrival.stored - arrival.scheduledAt).toBeLessThan(100 + 50);
    }
  }, 60_000);

  it('fires a delay several wheel spans long on time with a deliberately short wheel', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const proc = startLiteMQ(standaloneArgs(data.dir, ['broker.timer.wheelSpanMs=1000', 'broker.timer.precisionMs=100']));
    const { nameServer } = await waitReady(proc);
    const producer = new Producer({ nameServers: [String(nameServer)] });
    await producer.start();
    cleanups.push(() => producer.close());
    const arrivals: ReceivedMessage[] = [];
    await consume(String(nameServer), 'roll', 'roll-reader', (message) => arrivals.push(message));
    const sent = await producer.send({ topic: 'roll', body: 'x', delayMs: 3_500 });
    await eventually(() => (arrivals.length === 1 ? true : undefined), 15_000, 'the rolled message');
    const [message] = arrivals;
    expect(message!.msgId).toBe(sent.msgId);
    expect(message!.storeTimestamp).toBeGreaterThanOrEqual(Number(message!.systemProperties.$scheduledAt));
    expect(message!.storeTimestamp - Number(message!.systemProperties.$scheduledAt)).toBeLessThan(150);
  }, 60_000);

  it('loses no timer when the broker is killed with SIGKILL halfway (100,000 timers over one minute)', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const args = standaloneArgs(data.dir);
    const first = startLiteMQ(args);
    const { nameServer } = await waitReady(first);
    const producer = new Producer({ nameServers: [String(nameServer)], retries: 0 });
    await producer.start();
    const TOTAL = 100_000;
    const SPREAD_MS = 60_000;
    // The first due time leaves room for sending all 100,000 (a few seconds on a loaded 2-core machine); any
    // timer whose time has passed when it arrives is delivered at once, which is still never early.
    const start = Date.now() + 5_000;
    const due = new Map<string, number>();
    const BATCH = 500;
    for (let i = 0; i < TOTAL; i += BATCH) {
      const messages = Array.from({ length: BATCH }, (_, j) => ({ topic: 'crash', body: `t${i + j}`, deliverAt: start + Math.floor(((i + j) * SPREAD_MS) / TOTAL) }));
      const results = await producer.sendBatch(messages);
      results.forEach((result, j) => due.set(`t${i + j}`, messages[j]!.deliverAt));
    }
    expect(due.size).toBe(TOTAL);
    await producer.close();
    // Kill halfway through the firing window (~30 s in): about half the timers have fired, half are pending.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + SPREAD_MS / 2 - Date.now())));
    first.kill('SIGKILL');
    await first.exited;
    const second = startLiteMQ(args);
    const ready = await waitReady(second);
    const seen = new Map<string, number>();
    let early = 0;
    await consume(String(ready.nameServer), 'crash', 'crash-auditor', (message) => {
      const body = message.body.toString();
      seen.set(body, (seen.get(body) ?? 0) + 1);
      if (message.storeTimestamp < due.get(body)!) early++;
    });
    // The remaining ~30 s of timers fire on their own times after the restart (plus the ones missed while down).
    await eventually(() => (seen.size === TOTAL ? true : undefined), Math.max(0, start + SPREAD_MS - Date.now()) + 60_000, `all ${TOTAL} timers delivered`);
    let duplicates = 0;
    for (const count of seen.values()) duplicates += count - 1;
    // Duplicates are counted, not forbidden: delivery is at-least-once. They come only from timers around the kill.
    // The store persists its read tick (`progress`) only past 100 ms ticks whose timers were all delivered; a batch
    // handed to onDue whose re-published records already reached the log, but whose tick was not yet marked fired
    // (batch still being appended, or the tick not complete / progress not yet written), is published again after
    // the restart, which resumes from the persisted read tick. So they are bounded by the timers of the last few
    // ticks before the kill (~170 per tick at 100,000 timers / 60 s; more if the loaded machine delayed firing).
    process.stdout.write(`crash test: ${TOTAL} timers over ${SPREAD_MS / 1000} s, killed at ${SPREAD_MS / 2000} s; ${seen.size} delivered, ${duplicates} duplicates (at-least-once re-publication of the batches not yet marked fired at the kill), ${early} early\n`);
    expect(early).toBe(0);
    expect(duplicates).toBeLessThan(5_000);
  }, 240_000);
});
