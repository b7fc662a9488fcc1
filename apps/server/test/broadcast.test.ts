import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin, Producer } from '@litemq/client';
import type { ClusterFixture } from './cluster-fixture.js';
import { createTopic, startCluster } from './cluster-fixture.js';
import type { LiteMQProcess } from './process-harness.js';
import { eventually, killAll, startLiteMQ, tempDataDir } from './process-harness.js';

let cluster: ClusterFixture | undefined;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
  await cluster?.cleanup();
  cluster = undefined;
});

const TOTAL = 10_000;
const BATCH = 50;

interface Position {
  queue: string;
  offset: number;
}

interface OffsetFileJson {
  offsets: Array<{ topic: string; brokerName: string; queueId: number; offset: number }>;
}

function bodiesOf(proc: LiteMQProcess): string[] {
  return proc.lines.map((line) => String(line.body));
}

describe('broadcast consumption across real processes (1 NameServer, 2 brokers)', () => {
  it('gives each of 3 instances all 10,000 messages; a SIGKILLed instance restarts from its offset file without gaps', async () => {
    cluster = await startCluster(2);
    await createTopic(cluster.nameServer, 'news', 2, 4);
    const offsets = await tempDataDir();
    cleanups.push(offsets.remove);
    const args = (instanceName: string) => [
      'consume', '-n', cluster!.nameServer, '-t', 'news', '-g', 'readers', '--from', 'first',
      '--broadcast', '--offset-dir', offsets.dir, '--instance-name', instanceName,
    ];
    const victimFile = join(offsets.dir, 'node-c', 'readers.json');
    const readVictimFile = async (): Promise<OffsetFileJson | undefined> => {
      const text = await readFile(victimFile, 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as OffsetFileJson);
    };
    const total = (file: OffsetFileJson) => file.offsets.reduce((sum, entry) => sum + entry.offset, 0);

    const a = startLiteMQ(args('node-a'));
    const b = startLiteMQ(args('node-b'));
    const victim = startLiteMQ(args('node-c'));

    const producer = new Producer({ nameServers: [cluster.nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    // Where every acknowledged message is stored: body -> queue and offset.
    const sent = new Map<string, Position>();
    // Batches paced by the two instances that stay up (each batch once they printed the previous one), so the
    // kill and the restart below land while messages are still flowing.
    const production = (async () => {
      for (let start = 0; start < TOTAL; start += BATCH) {
        await Promise.all(
          Array.from({ length: BATCH }, async (_, k) => {
            const body = `m${start + k}`;
            const result = await producer.send({ topic: 'news', body });
            sent.set(body, { queue: `${result.brokerName}/${result.queueId}`, offset: result.queueOffset });
          }),
        );
        await eventually(() => (a.lines.length >= sent.size && b.lines.length >= sent.size ? true : undefined), 60_000, `instances a and b at ${sent.size}`);
      }
    })();

    // Kill the victim once its offset file shows progress (it is written every 5 s): whatever it processed after
    // that write is delivered to it again after the restart.
    const persisted = await eventually(async () => {
      const file = await readVictimFile();
      return file && total(file) >= 500 ? file : undefined;
    }, 60_000, 'the victim to persist some offsets');
    victim.kill('SIGKILL');
    await victim.exited;
    const sentAtKill = sent.size;
    const atKill = (await readVictimFile())!; // final: its writer is dead
    expect(total(atKill)).toBeGreaterThanOrEqual(total(persisted));
    const fileOffset = new Map(atKill.offsets.map((entry) => [`${entry.brokerName}/${entry.queueId}`, entry.offset]));
    expect(fileOffset.size).toBe(8);

    // Restart it with the same name and directory while production goes on.
    await eventually(() => (sent.size >= Math.min(TOTAL, sentAtKill + 1000) ? true : undefined), 60_000, 'more messages while the victim is down');
    const restarted = startLiteMQ(args('node-c'));
    await production;
    const acked = new Set(sent.keys());
    expect(acked.size).toBe(TOTAL);
    // The kill came mid-way: messages were still to be sent, and the file was behind the end.
    expect(sentAtKill).toBeLessThan(TOTAL);
    expect(total(atKill)).toBeLessThan(TOTAL);

    const victimBodies = () => new Set([...bodiesOf(victim), ...bodiesOf(restarted)]);
    await eventually(
      () => (new Set(bodiesOf(a)).size >= TOTAL && new Set(bodiesOf(b)).size >= TOTAL && victimBodies().size >= TOTAL ? true : undefined),
      90_000,
      'every instance to see every message',
    );

    // Instances that stayed up: exactly the acknowledged set, each message once.
    for (const proc of [a, b]) {
      expect(new Set(bodiesOf(proc))).toEqual(acked);
      expect(proc.lines.length).toBe(TOTAL);
    }

    // The victim: every message at least once over its two lives...
    expect(victimBodies()).toEqual(acked);
    // ...its first life processed everything below the offsets it persisted...
    const before = new Set(bodiesOf(victim));
    for (const [body, position] of sent) {
      if (position.offset < fileOffset.get(position.queue)!) expect(before.has(body), `${body} below the persisted offset`).toBe(true);
    }
    // ...and its second life resumed exactly there: nothing below the persisted offsets came again, so the only
    // duplicates are messages processed after the last write of the file.
    const after = bodiesOf(restarted);
    expect(new Set(after).size).toBe(after.length);
    const firstAfter = new Map<string, number>();
    for (const body of after) {
      const position = sent.get(body)!;
      expect(position.offset, `${body} redelivered from before the persisted offset`).toBeGreaterThanOrEqual(fileOffset.get(position.queue)!);
      firstAfter.set(position.queue, Math.min(firstAfter.get(position.queue) ?? Infinity, position.offset));
    }
    for (const [queue, offset] of fileOffset) {
      const anyAtOrAfter = [...sent.values()].some((position) => position.queue === queue && position.offset >= offset);
      if (anyAtOrAfter) expect(firstAfter.get(queue), `resume point of ${queue}`).toBe(offset);
    }
    const duplicates = after.filter((body) => before.has(body));
    for (const body of duplicates) expect(sent.get(body)!.offset).toBeGreaterThanOrEqual(fileOffset.get(sent.get(body)!.queue)!);

    // Broadcasting never commits offsets to the brokers.
    const admin = new Admin({ nameServers: [cluster.nameServer] });
    cleanups.push(() => admin.close());
    const brokerOffsets = await admin.consumerOffsets('readers', 'news');
    expect(brokerOffsets.queues).toHaveLength(8);
    expect(brokerOffsets.queues.every((queue) => queue.committedOffset < 0)).toBe(true);

    // A graceful stop writes the final offsets: every queue's end.
    for (const proc of [a, restarted]) proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await restarted.exited).toBe(0);
    const finalFile = JSON.parse(await readFile(victimFile, 'utf8')) as OffsetFileJson;
    expect(total(finalFile)).toBe(TOTAL);
    await expect(readFile(`${victimFile}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a second instance on the same offset file, and --offset-dir without --broadcast', async () => {
    cluster = await startCluster(1);
    await createTopic(cluster.nameServer, 'alerts', 1, 2);
    const offsets = await tempDataDir();
    cleanups.push(offsets.remove);
    const args = ['consume', '-n', cluster.nameServer, '-t', 'alerts', '-g', 'pagers', '--broadcast', '--offset-dir', offsets.dir, '--instance-name', 'node-1'];
    const first = startLiteMQ(args);
    await eventually(async () => readFile(join(offsets.dir, 'node-1', 'pagers.json.lock'), 'utf8'), 30_000, 'the first instance to lock its file');
    const twin = startLiteMQ(args);
    expect(await twin.exited).toBe(1);
    expect(twin.stderr).toContain('OFFSET_STORE_LOCKED');
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const misuse = startLiteMQ(['consume', '-n', cluster.nameServer, '-t', 'alerts', '-g', 'pagers', '--offset-dir', offsets.dir]);
    expect(await misuse.exited).toBe(1);
    expect(misuse.stderr).toContain('--offset-dir and --instance-name need --broadcast');
  });
});
