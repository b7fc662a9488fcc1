import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin, DlqAdmin, Producer } from '@litemq/client';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const ORDERLY_CONSUMER = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/orderly-consumer.ts');
const KEYS = 100;
const PER_KEY = 1000;
const POISON_KEY = 'poison-key';
const POISON_KEY_COUNT = 20;
const POISON_SEQ = 7;
const TOPIC = 'ledger';
const GROUP = 'ordered';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

interface Delivery {
  consumer: number;
  key: string;
  seq: number;
  /** Monotonic µs, comparable across the processes of this host. */
  t: number;
}

/** One orderly-consumer process and what it printed. */
interface ConsumerProcess {
  index: number;
  child: ChildProcess;
  started: boolean;
  queues: number[];
  deliveries: Delivery[];
  failures: Array<{ key: string; seq: number }>;
  stderr: string;
  exited: Promise<unknown>;
}

function startConsumer(index: number, nameServer: string): ConsumerProcess {
  const child = spawn(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', ORDERLY_CONSUMER, nameServer, TOPIC, GROUP], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: ConsumerProcess = {
    index, child, started: false, queues: [], deliveries: [], failures: [], stderr: '',
    exited: new Promise((resolveExit) => child.once('exit', resolveExit)),
  };
  child.stderr!.on('data', (chunk: Buffer) => (proc.stderr = (proc.stderr + chunk.toString()).slice(-20_000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [kind, a, b, c] = line.split(' ');
    if (kind === 'D') proc.deliveries.push({ consumer: index, key: a!, seq: Number(b), t: Number(c) });
    else if (kind === 'F') proc.failures.push({ key: a!, seq: Number(b) });
    else if (kind === 'A') proc.queues = a ? a.split(';').map(Number) : [];
    else if (kind === 'R') proc.started = true;
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await proc.exited;
  });
  return proc;
}

/**
 * The ordering check of one key, over the deliveries of every process merged by time. Walking them with `next` =
 * the next sequence number never delivered before:
 * - a delivery of `next` is a first delivery (so the first deliveries are exactly 0, 1, 2, ... in order);
 * - a delivery above `next` skips a message: out of order, a failure;
 * - a delivery below `next` is a redelivery, allowed only as a run `s, s+1, ..., next-1` by one process other than
 *   the killed one, after the kill, of messages the killed one delivered first (its uncommitted suffix), followed by
 *   `next` or nothing. Anything else (a duplicate after a graceful hand-over, a replay by the same process, an
 *   interleaving) fails.
 */
function checkKey(key: string, deliveries: Delivery[], victim: number, killedAt: number, expected: number[]): { redelivered: number; problems: string[] } {
  const sorted = [...deliveries].sort((x, y) => x.t - y.t);
  const firstBy = new Map<number, number>();
  const problems: string[] = [];
  let position = 0;
  let redelivered = 0;
  for (let i = 0; i < sorted.length; i++) {
    const d = sorted[i]!;
    const next = expected[position];
    if (d.seq === next) {
      firstBy.set(d.seq, d.consumer);
      position++;
      continue;
    }
    const at = expected.indexOf(d.seq);
    if (at < 0 || at > position) {
      problems.push(`${key}: seq ${d.seq} delivered by consumer ${d.consumer} while ${String(next)} was next (out of order)`);
      break;
    }
    // A redelivery run: expected[at .. position-1], all by d.consumer.
    const run = expected.slice(at, position);
    const got = sorted.slice(i, i + run.length);
    const byVictim = run.every((seq) => firstBy.get(seq) === victim);
    const contiguous = got.length === run.length && got.every((g, j) => g.seq === run[j] && g.consumer === d.consumer);
    if (d.consumer === victim || d.t < killedAt || !byVictim || !contiguous) {
      problems.push(
        `${key}: redelivery of ${run[0]}..${run.at(-1)} by consumer ${d.consumer} (victim ${victim}, first deliveries by ${[...new Set(run.map((s) => firstBy.get(s)))].join(',')}) is not a contiguous replay of the killed consumer's suffix`,
      );
      break;
    }
    redelivered += run.length;
    i += run.length - 1;
  }
  if (problems.length === 0 && position !== expected.length) problems.push(`${key}: only ${position} of ${expected.length} delivered`);
  return { redelivered, problems };
}

describe('orderly consumption through real processes', () => {
  it('consumes 100 keys × 1,000 messages strictly in per-key order with injected failures, a killed consumer and a poison message', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    // A 3 s lock lease so the killed consumer's queues pass to a survivor quickly.
    const server = startLiteMQ([
      'standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn', '--set', 'broker.queueLockLeaseMs=3000',
    ]);
    const nameServer = String((await waitReady(server)).nameServer);
    const admin = new Admin({ nameServers: [nameServer] });
    cleanups.push(() => admin.close());
    await admin.createTopic(TOPIC, { queueNums: 8 });
    await eventually(async () => ((await admin.getRoute(TOPIC)).queues.length === 1 ? true : undefined), 15_000, 'the route');

    const consumers = [0, 1, 2].map((index) => startConsumer(index, nameServer));
    // Every queue held by exactly one consumer before anything is sent.
    await eventually(() => {
      if (!consumers.every((c) => c.started)) return undefined;
      const held = consumers.flatMap((c) => c.queues);
      return held.length === 8 && new Set(held).size === 8 && consumers.every((c) => c.queues.length > 0) ? true : undefined;
    }, 30_000, 'the 8 queues locked by 3 consumers');

    const producer = new Producer({ nameServers: [nameServer] });
    await producer.start();
    cleanups.push(() => producer.close());
    // Each key's messages are sent one after the other (order is defined by the send order); keys in parallel.
    let poisonMsgId = '';
    const sending = Promise.all([
      ...Array.from({ length: KEYS }, async (_, k) => {
        const key = `key-${k}`;
        for (let seq = 0; seq < PER_KEY; seq++) await producer.send({ topic: TOPIC, body: `${key}:${seq}`, shardingKey: key });
      }),
      (async () => {
        for (let seq = 0; seq < POISON_KEY_COUNT; seq++) {
          const sent = await producer.send({ topic: TOPIC, body: `${POISON_KEY}:${seq}`, shardingKey: POISON_KEY, properties: seq === POISON_SEQ ? { poison: '1' } : {} });
          if (seq === POISON_SEQ) poisonMsgId = sent.msgId;
        }
      })(),
    ]);

    // Kill a consumer mid-way (SIGKILL: no unlock, no final commit, its locks must expire).
    const victim = consumers[0]!;
    const delivered = () => consumers.reduce((sum, c) => sum + c.deliveries.length, 0);
    await eventually(() => (delivered() >= 30_000 && victim.deliveries.length >= 2_000 ? true : undefined), 60_000, 'a third of the messages consumed');
    const killedAt = Number(process.hrtime.bigint() / 1000n);
    victim.child.kill('SIGKILL');
    await victim.exited;
    await sending;

    const total = KEYS * PER_KEY + POISON_KEY_COUNT - 1;
    const distinct = () => {
      const seen = new Set<string>();
      for (const c of consumers) for (const d of c.deliveries) seen.add(`${d.key}:${d.seq}`);
      return seen.size;
    };
    await eventually(() => (distinct() >= total ? true : undefined), 60_000, `all ${total} messages consumed`);

    // The poison message is in the DLQ after 3 attempts, and its queue went on.
    const dlq = new DlqAdmin({ nameServers: [nameServer] });
    cleanups.push(() => dlq.close());
    const dead = await eventually(async () => (await dlq.list(GROUP)).find((m) => m.msgId === poisonMsgId), 10_000, 'the poison message in the DLQ');
    expect(dead).toMatchObject({ originTopic: TOPIC, attempts: 3, lastError: `Error: injected failure of ${POISON_KEY}:${POISON_SEQ}` });
    expect(dead.history.length).toBe(3);

    // Per-key order over every process, merged by time.
    const byKey = new Map<string, Delivery[]>();
    for (const c of consumers) for (const d of c.deliveries) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
    const sequence = Array.from({ length: PER_KEY }, (_, i) => i);
    const problems: string[] = [];
    let redelivered = 0;
    for (let k = 0; k < KEYS; k++) {
      const result = checkKey(`key-${k}`, byKey.get(`key-${k}`) ?? [], victim.index, killedAt, sequence);
      problems.push(...result.problems);
      redelivered += result.redelivered;
    }
    const poisonSequence = Array.from({ length: POISON_KEY_COUNT }, (_, i) => i).filter((seq) => seq !== POISON_SEQ);
    const poisonResult = checkKey(POISON_KEY, byKey.get(POISON_KEY) ?? [], victim.index, killedAt, poisonSequence);
    problems.push(...poisonResult.problems);
    expect(problems.slice(0, 10)).toEqual([]);
    expect(byKey.get(POISON_KEY)!.some((d) => d.seq === POISON_SEQ)).toBe(false);

    // Failures were injected and each failed message was still delivered (it retried in place).
    const failures = consumers.flatMap((c) => c.failures).filter((f) => f.key !== POISON_KEY);
    expect(failures.length).toBeGreaterThan(50);
    // Redeliveries are bounded by what the victim handled since its last commits (commitIntervalMs 200).
    expect(redelivered).toBeLessThan(victim.deliveries.length);
    // The survivors took over every queue.
    await eventually(() => {
      const held = consumers.slice(1).flatMap((c) => c.queues);
      return held.length === 8 && new Set(held).size === 8 ? true : undefined;
    }, 10_000, 'the survivors holding every queue');
    expect(victim.deliveries.length).toBeGreaterThan(0);
    expect(consumers[1]!.deliveries.length + consumers[2]!.deliveries.length).toBeGreaterThan(0);
  }, 120_000);
});
