import { afterEach, describe, expect, it } from 'vitest';
import { PushConsumer } from '@litemq/client';
import type { ReceivedMessage } from '@litemq/client';
import { cronMessageId } from '@litemq/delay';
import type { LiteMQProcess } from './process-harness.js';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

function standaloneArgs(dir: string): string[] {
  return ['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', dir, '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true'];
}

/** Runs one `litemq` CLI command to completion. */
async function cli(args: string[]): Promise<{ code: number | string; lines: Record<string, unknown>[]; stderr: string }> {
  const proc: LiteMQProcess = startLiteMQ(args);
  const code = await proc.exited;
  return { code, lines: proc.lines, stderr: proc.stderr };
}

async function collect(nameServer: string, topic: string, into: ReceivedMessage[]): Promise<void> {
  const consumer = new PushConsumer({ nameServers: [nameServer], group: `${topic}-reader`, consumeFromWhere: 'FIRST_OFFSET', routeRefreshMs: 200, rebalanceIntervalMs: 200 });
  consumer.subscribe(topic);
  cleanups.push(() => consumer.close());
  await consumer.start((message) => {
    into.push(message);
  });
}

const scheduledAt = (message: ReceivedMessage) => Number(message.systemProperties.$scheduledAt);

describe('cron jobs through a real broker process and the CLI', () => {
  it('a job every second (non-UTC zone) yields exactly one message per second with deterministic ids; CLI crud and errors', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const server = startLiteMQ(standaloneArgs(data.dir));
    const { nameServer } = await waitReady(server);
    const ns = String(nameServer);
    const added = await cli(['cron', 'add', '-n', ns, '--id', 'tick', '--cron', '* * * * * *', '--tz', 'Asia/Kolkata', '-t', 'ticks', '-b', 'tick', '--tags', 'T', '--keys', 'a,b', '--property', 'team=ops']);
    expect(added.code).toBe(0);
    expect(added.lines[0]).toMatchObject({ id: 'tick', timezone: 'Asia/Kolkata', enabled: true });
    // The topic is created by the first firing: subscribe once it exists.
    await eventually(async () => (Number((await cli(['cron', 'list', '-n', ns])).lines[0]?.lastFiredAt) > 0 ? true : undefined), 10_000, 'the first firing');
    const messages: ReceivedMessage[] = [];
    await collect(ns, 'ticks', messages);
    await eventually(() => (messages.length >= 10 ? true : undefined), 20_000, '10 cron messages').catch((error: unknown) => {
      throw new Error(`${String(error)}; got ${messages.length}; broker log: ${JSON.stringify(server.lines.slice(-5)).slice(0, 3000)}`);
    });
    // A timezone other than UTC: 09:00 in Kolkata is 03:30 UTC.
    expect((await cli(['cron', 'add', '-n', ns, '--id', 'morning', '--cron', '0 0 9 * * *', '--tz', 'Asia/Kolkata', '-t', 'reports', '-b', 'go'])).code).toBe(0);
    const next = await cli(['cron', 'next', 'morning', '-n', ns, '--count', '3']);
    expect(next.lines).toHaveLength(3);
    for (const line of next.lines) expect(String(line.iso)).toMatch(/T03:30:00\.000Z$/);
    const paused = await cli(['cron', 'pause', 'tick', '-n', ns]);
    expect(paused.lines[0]).toMatchObject({ id: 'tick', enabled: false });
    const pausedAt = Date.now();
    const list = await cli(['cron', 'list', '-n', ns]);
    expect(list.lines.at(-1)).toEqual({ total: 2 });
    // Invalid input fails with a clear error naming the problem, and nothing else is affected.
    const bad = await cli(['cron', 'add', '-n', ns, '--id', 'bad', '--cron', 'every day', '-t', 'ticks', '-b', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid cron expression "every day"/);
    const badZone = await cli(['cron', 'add', '-n', ns, '--id', 'bad', '--cron', '* * * * * *', '--tz', 'Mars/Base', '-t', 'ticks', '-b', 'x']);
    expect(badZone.stderr).toMatch(/unknown time zone "Mars\/Base"/);

    const fired = messages.filter((m) => scheduledAt(m) < pausedAt);
    const times = fired.map(scheduledAt).sort((a, b) => a - b);
    expect(new Set(times).size).toBe(times.length); // one message per occurrence
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1_000); // one per second, none missing
    for (const message of fired) {
      expect(message.msgId).toBe(cronMessageId('tick', scheduledAt(message)));
      expect(message.storeTimestamp).toBeGreaterThanOrEqual(scheduledAt(message));
      expect(message.tags).toBe('T');
      expect(message.keys).toEqual(['a', 'b']);
      expect(message.properties).toEqual({ team: 'ops' });
    }
    expect((await cli(['cron', 'rm', 'tick', '-n', ns])).lines[0]).toEqual({ id: 'tick', deleted: true });
  }, 90_000);

  it('after a 5 s outage: fire-once publishes one catch-up message, skip none; no occurrence fires twice', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const args = standaloneArgs(data.dir);
    const first = startLiteMQ(args);
    const { nameServer } = await waitReady(first);
    for (const policy of ['fire-once', 'skip']) {
      const added = await cli(['cron', 'add', '-n', String(nameServer), '--id', policy, '--cron', '* * * * * *', '-t', `mis-${policy}`, '-b', policy, '--misfire', policy]);
      expect(added.code).toBe(0);
    }
    const before: ReceivedMessage[] = [];
    await collect(String(nameServer), 'mis-skip', before);
    await eventually(() => (before.length >= 2 ? true : undefined), 10_000, 'firings before the outage');
    first.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // the outage itself
    const second = startLiteMQ(args);
    const ready = await waitReady(second);
    const once: ReceivedMessage[] = [];
    const skip: ReceivedMessage[] = [];
    await collect(String(ready.nameServer), 'mis-fire-once', once);
    await collect(String(ready.nameServer), 'mis-skip', skip);
    const restartedAt = Date.now();
    await eventually(() => (once.some((m) => scheduledAt(m) > restartedAt + 1_000) && skip.some((m) => scheduledAt(m) > restartedAt + 1_000) ? true : undefined), 15_000, 'firings after the restart');
    const catchUps = once.filter((m) => m.systemProperties.$cronCatchUp === 'true');
    expect(catchUps).toHaveLength(1);
    expect(scheduledAt(catchUps[0]!)).toBeGreaterThan(killedAt);
    expect(skip.filter((m) => m.systemProperties.$cronCatchUp === 'true')).toHaveLength(0);
    // skip: nothing scheduled inside the outage (beyond the second the broker was killed in).
    const inOutage = skip.filter((m) => scheduledAt(m) > killedAt + 1_000 && scheduledAt(m) < killedAt + 5_000);
    expect(inOutage).toHaveLength(0);
    for (const list of [once, skip]) {
      const ids = list.map((m) => m.msgId);
      expect(new Set(ids).size).toBe(ids.length);
    }
  }, 90_000);
});
