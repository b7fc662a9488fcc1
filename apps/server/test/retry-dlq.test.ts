import { afterEach, describe, expect, it } from 'vitest';
import { Admin, DlqAdmin, Producer, PushConsumer } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

/** Short backoff levels so the test takes seconds: retry 1 after 1 s, retry 2 after 2 s, then 3 s. */
const LEVELS_MS = [1_000, 2_000, 3_000];

interface Attempt {
  at: number;
  topic: string;
  msgId: string;
  reconsumeTimes: number;
  properties: Record<string, string>;
  failureReason: string | undefined;
  /** When the handler threw (undefined: it succeeded). */
  failedAt?: number;
}

async function runCli(args: string[]): Promise<Array<Record<string, unknown>>> {
  const proc = startLiteMQ(args);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`litemq ${args.join(' ')} exited with ${String(code)}: ${proc.stderr}`);
  return proc.lines;
}

describe('retry with backoff and dead letters through real processes', () => {
  it('redelivers through %RETRY% at the backoff levels, dead-letters after maxReconsumeTimes, and resends from the DLQ', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const proc = startLiteMQ([
      'standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn',
      '--set', 'broker.autoCreateTopic=true', '--set', 'broker.retry.levels=1s 2s 3s', '--set', 'broker.retry.maxReconsumeTimes=5',
    ]);
    const nameServer = String((await waitReady(proc)).nameServer);
    const producer = new Producer({ nameServers: [nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    const flaky = await producer.send({ topic: 'orders', body: 'flaky', tags: 'A', keys: 'k-flaky', properties: { region: 'eu' } });
    const poison = await producer.send({ topic: 'orders', body: 'poison', properties: { region: 'us' } });
    const fine = await producer.send({ topic: 'orders', body: 'fine' });

    const attempts = new Map<string, Attempt[]>();
    let acceptPoison = false;
    const consumer = new PushConsumer({
      nameServers: [nameServer], group: 'billing', consumeFromWhere: 'FIRST_OFFSET', maxReconsumeTimes: 2, routeRefreshMs: 200, rebalanceIntervalMs: 200,
      commitIntervalMs: 100,
    });
    consumer.subscribe('orders');
    cleanups.push(() => consumer.close());
    await consumer.start((message) => {
      const list = attempts.get(message.msgId) ?? [];
      attempts.set(message.msgId, list);
      const attempt: Attempt = {
        at: Date.now(), topic: message.topic, msgId: message.msgId, reconsumeTimes: message.reconsumeTimes, properties: { ...message.properties },
        failureReason: message.systemProperties.$failureReason,
      };
      list.push(attempt);
      const body = message.body.toString();
      if ((body === 'flaky' && list.length <= 2) || (body === 'poison' && !acceptPoison)) {
        attempt.failedAt = Date.now();
        throw new Error(`${body} failure #${list.length}`);
      }
    });

    // flaky: fails twice, succeeds on the third delivery.
    await eventually(() => (attempts.get(flaky.msgId)?.length === 3 ? true : undefined), 30_000, 'flaky delivered three times');
    const flakyAttempts = attempts.get(flaky.msgId)!;
    expect(flakyAttempts.map((a) => a.reconsumeTimes)).toEqual([0, 1, 2]);
    const errors: number[] = [];
    for (let i = 1; i < flakyAttempts.length; i++) {
      const attempt = flakyAttempts[i]!;
      // The redelivery looks like the original: topic, id, properties; plus the failure reason.
      expect(attempt.topic).toBe('orders');
      expect(attempt.msgId).toBe(flaky.msgId);
      expect(attempt.properties).toEqual({ region: 'eu' });
      expect(attempt.failureReason).toBe(`Error: flaky failure #${i}`);
      const waited = attempt.at - flakyAttempts[i - 1]!.failedAt!;
      errors.push(waited - LEVELS_MS[i - 1]!);
    }
    // Never early; late by less than a second even on a loaded 2-core machine (timer precision 100 ms + send-back + pull).
    for (const error of errors) {
      expect(error).toBeGreaterThanOrEqual(0);
      expect(error).toBeLessThan(1_000);
    }
    process.stdout.write(`retry timing error (ms past the level): ${errors.join(', ')}\n`);
    expect(attempts.get(fine.msgId)!.length).toBe(1);

    // poison: 1 + maxReconsumeTimes (2) attempts, then the DLQ with its history.
    const dlq = new DlqAdmin({ nameServers: [nameServer] });
    cleanups.push(() => dlq.close());
    const [dead] = await eventually(async () => {
      const list = await dlq.list('billing');
      return list.length === 1 ? list : undefined;
    }, 30_000, 'poison in the DLQ');
    expect(attempts.get(poison.msgId)!.map((a) => a.reconsumeTimes)).toEqual([0, 1, 2]);
    expect(dead).toMatchObject({ msgId: poison.msgId, group: 'billing', originTopic: 'orders', attempts: 3, lastError: 'Error: poison failure #3', properties: { region: 'us' } });
    expect(dead!.history.map(([, reason]) => reason)).toEqual(['Error: poison failure #1', 'Error: poison failure #2', 'Error: poison failure #3']);
    expect(dead!.dlqAt).toBeGreaterThanOrEqual(dead!.history[2]![0]);
    const shown = await dlq.show('billing', poison.msgId);
    expect(shown?.body.toString()).toBe('poison');

    // The CLI sees the same dead letter.
    const cliList = await runCli(['dlq', 'list', '--group', 'billing', '--namesrv', nameServer]);
    expect(cliList[0]).toMatchObject({ msgId: poison.msgId, originTopic: 'orders', attempts: 3 });
    expect(cliList.at(-1)).toEqual({ shown: 1 });

    // Resend to the group: delivered again (fresh retry budget), as the original message.
    acceptPoison = true;
    expect(await dlq.resend('billing', [poison.msgId])).toEqual({ resent: [poison.msgId], notFound: [] });
    await eventually(() => (attempts.get(poison.msgId)!.length === 4 ? true : undefined), 15_000, 'poison delivered after resend');
    expect(attempts.get(poison.msgId)![3]).toMatchObject({ topic: 'orders', reconsumeTimes: 0, properties: { region: 'us' } });

    // Purge through the CLI empties the list.
    const purged = await runCli(['dlq', 'purge', '--all', '--group', 'billing', '--namesrv', nameServer]);
    expect(purged).toEqual([{ purged: 1 }]);
    expect(await dlq.list('billing')).toEqual([]);

    // Offsets moved past every message once it was processed or safely sent back: no lag on the topic.
    const admin = new Admin({ nameServers: [nameServer] });
    cleanups.push(() => admin.close());
    await eventually(async () => {
      const offsets = await admin.consumerOffsets('billing');
      const lag = offsets.queues.filter((q) => q.topic === 'orders').reduce((sum, q) => sum + q.lag, 0);
      return lag === 0 ? true : undefined;
    }, 15_000, 'no lag on orders');
  }, 90_000);
});
