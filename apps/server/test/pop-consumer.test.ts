import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedPopMessage } from '@litemq/client';
import { Admin, DlqAdmin, Producer, PushConsumer, SimpleConsumer } from '@litemq/client';
import { createTopic, startCluster } from './cluster-fixture.js';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

interface Delivery {
  message: ReceivedPopMessage;
  at: number;
  consumer: number;
}

function body(message: ReceivedPopMessage): string {
  return message.body.toString();
}

async function standalone(): Promise<string> {
  const data = await tempDataDir();
  cleanups.push(data.remove);
  const proc = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true']);
  return String((await waitReady(proc)).nameServer);
}

async function producerFor(nameServer: string): Promise<Producer> {
  const producer = new Producer({ nameServers: [nameServer] });
  await producer.start();
  cleanups.push(() => producer.close());
  return producer;
}

async function consumerFor(nameServer: string, group: string, topic: string, options: { maxReconsumeTimes?: number } = {}): Promise<SimpleConsumer> {
  const consumer = new SimpleConsumer({ nameServers: [nameServer], group, consumeFromWhere: 'FIRST_OFFSET', awaitDurationMs: 500, routeRefreshMs: 300, ...options });
  consumer.subscribe(topic);
  await consumer.start();
  cleanups.push(() => consumer.close());
  return consumer;
}

/** Receives (long polling) until `done` says so or `timeoutMs` passes; every delivery is recorded. */
async function receiveUntil(consumer: SimpleConsumer, invisibleMs: number, done: (deliveries: Delivery[]) => boolean, timeoutMs: number, log: Delivery[] = [], id = 0): Promise<Delivery[]> {
  const deadline = Date.now() + timeoutMs;
  while (!done(log) && Date.now() < deadline) {
    let messages: ReceivedPopMessage[];
    try {
      messages = await consumer.receive(16, invisibleMs);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100)); // broker down (crash test): back off, do not spin
      continue;
    }
    const at = Date.now();
    for (const message of messages) log.push({ message, at, consumer: id });
  }
  return log;
}

describe('pop consumption (SimpleConsumer) through real processes', () => {
  it('redelivers on invisibility expiry, not after an ack, later after changeInvisibleDuration, and dead-letters after maxReconsumeTimes', async () => {
    const nameServer = await standalone();
    const producer = await producerFor(nameServer);
    await producer.send({ topic: 'tasks', body: 'warm-up' }); // creates the topic
    const consumer = await consumerFor(nameServer, 'workers', 'tasks', { maxReconsumeTimes: 2 });
    for (const text of ['expire', 'ack', 'extend', 'poison']) await producer.send({ topic: 'tasks', body: text, properties: { kind: text } });

    const first = await receiveUntil(consumer, 1_500, (log) => log.length === 5, 15_000);
    expect(first.map((d) => body(d.message)).sort()).toEqual(['ack', 'expire', 'extend', 'poison', 'warm-up']);
    expect(first.every((d) => d.message.reconsumeTimes === 0 && d.message.deliveryAttempt === 1 && d.message.topic === 'tasks')).toBe(true);
    const byBody = new Map(first.map((d) => [body(d.message), d.message]));
    await consumer.ack(byBody.get('warm-up')!);
    await consumer.ack(byBody.get('ack')!);
    const expireUntil = byBody.get('expire')!.invisibleUntil;
    const oldExtendHandle = byBody.get('extend')!.receiptHandle;
    const newHandle = await consumer.changeInvisibleDuration(byBody.get('extend')!, 5_000);
    const extendUntil = byBody.get('extend')!.invisibleUntil;
    expect(byBody.get('extend')!.receiptHandle).toBe(newHandle);
    expect(extendUntil).toBeGreaterThan(expireUntil + 3_000);
    // The replaced handle is stale now.
    await expect(consumer.ack(oldExtendHandle)).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_STALE' });

    // Wait until 'extend' came back: by then 'expire' came back once, 'ack' never. Redeliveries are acknowledged at
    // once, except 'poison', which keeps expiring.
    const later: Delivery[] = [];
    const acks: Array<Promise<void>> = [];
    await receiveUntil(consumer, 1_000, (log) => {
      for (const d of log.splice(0)) {
        later.push(d);
        if (body(d.message) !== 'poison') acks.push(consumer.ack(d.message));
      }
      return later.some((d) => body(d.message) === 'extend');
    }, 20_000);
    await Promise.all(acks);
    const again = later.filter((d) => body(d.message) !== 'poison');
    expect(again.map((d) => body(d.message)).sort()).toEqual(['expire', 'extend']);
    for (const d of again) {
      expect(d.message.reconsumeTimes).toBe(1);
      expect(d.message.deliveryAttempt).toBe(2);
      expect(d.message.topic).toBe('tasks');
      expect(d.message.msgId).toBe(byBody.get(body(d.message))!.msgId);
      expect(d.message.properties).toEqual({ kind: body(d.message) });
    }
    const expireAgain = again.find((d) => body(d.message) === 'expire')!;
    const extendAgain = again.find((d) => body(d.message) === 'extend')!;
    // Never before the end of the invisible time (the new one for 'extend'), and not much after it.
    expect(expireAgain.at).toBeGreaterThanOrEqual(expireUntil);
    expect(expireAgain.at - expireUntil).toBeLessThan(3_000);
    expect(extendAgain.at).toBeGreaterThanOrEqual(extendUntil);
    expect(extendAgain.at - extendUntil).toBeLessThan(3_000);
    // An acknowledged-in-time handle cannot be acknowledged after its time: the first 'expire' handle is expired.
    await expect(consumer.ack(byBody.get('expire')!)).rejects.toMatchObject({ code: 'RECEIPT_HANDLE_EXPIRED' });

    // 'poison' is never acknowledged: 1 + maxReconsumeTimes (2) deliveries, then the DLQ.
    const poison = [...first, ...later].filter((d) => body(d.message) === 'poison');
    await receiveUntil(consumer, 1_000, (log) => log.length >= 3, 20_000, poison);
    expect(poison.map((d) => d.message.reconsumeTimes)).toEqual([0, 1, 2]);
    const dlq = new DlqAdmin({ nameServers: [nameServer] });
    cleanups.push(() => dlq.close());
    const [dead] = await eventually(async () => {
      const list = await dlq.list('workers');
      return list.length === 1 ? list : undefined;
    }, 15_000, 'poison in the DLQ');
    expect(dead).toMatchObject({ msgId: byBody.get('poison')!.msgId, originTopic: 'tasks', attempts: 3, lastError: 'not acknowledged within its invisible time (1000 ms)' });
    // Nothing else is delivered any more: 'ack', 'expire', 'extend' and 'poison' are all settled.
    const quiet = await receiveUntil(consumer, 1_000, () => false, 2_500);
    expect(quiet.map((d) => body(d.message))).toEqual([]);
  }, 120_000);

  it('never gives one message to two consumers while it is invisible', async () => {
    const nameServer = await standalone();
    const producer = await producerFor(nameServer);
    await producer.send({ topic: 'shared', body: 'warm-up' });
    const consumers = await Promise.all([0, 1, 2].map(() => consumerFor(nameServer, 'pool', 'shared')));
    const texts = Array.from({ length: 200 }, (_, i) => `s${i}`);
    await Promise.all(texts.map((text) => producer.send({ topic: 'shared', body: text })));
    const expected = texts.length + 1;
    const log: Delivery[] = [];
    // All three receive at the same time, with an invisible time longer than the test: any duplicate is a bug.
    await Promise.all(consumers.map((consumer, id) => receiveUntil(consumer, 60_000, (all) => all.length >= expected, 30_000, log, id)));
    const ids = log.map((d) => d.message.msgId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(expected);
    expect(new Set(log.map((d) => body(d.message)))).toEqual(new Set(['warm-up', ...texts]));
    // Spread over the consumers (they share every queue, no rebalance).
    for (const id of [0, 1, 2]) expect(log.some((d) => d.consumer === id)).toBe(true);
    await Promise.all(log.map((d) => consumers[d.consumer]!.ack(d.message)));
    const admin = new Admin({ nameServers: [nameServer] });
    cleanups.push(() => admin.close());
    const offsets = await admin.consumerOffsets('pool');
    expect(offsets.queues.filter((q) => q.topic === 'shared').reduce((sum, q) => sum + q.lag, 0)).toBe(0);
  }, 90_000);

  it('refuses simple consumers in a group that push consumers use (CONSUME_TYPE_CONFLICT), not leaving them queues', async () => {
    const nameServer = await standalone();
    const producer = await producerFor(nameServer);
    await producer.send({ topic: 'mixed', body: 'first' });
    const received: string[] = [];
    const push = new PushConsumer({ nameServers: [nameServer], group: 'mixers', consumeFromWhere: 'FIRST_OFFSET' });
    push.subscribe('mixed');
    cleanups.push(() => push.close());
    await push.start((message) => {
      received.push(message.body.toString());
    });
    await eventually(() => (received.includes('first') ? true : undefined), 20_000, 'the push consumer to consume');
    const simple = await consumerFor(nameServer, 'mixers', 'mixed');
    await expect(simple.receive(1, 10_000, { awaitDurationMs: 0 })).rejects.toMatchObject({ code: 'CONSUME_TYPE_CONFLICT' });
    // The push consumer keeps every queue: later messages reach it.
    await producer.send({ topic: 'mixed', body: 'second' });
    await eventually(() => (received.includes('second') ? true : undefined), 20_000, 'the push consumer to keep consuming');
  }, 60_000);

  it('redelivers unacknowledged pops after the broker is killed (SIGKILL) and restarted; none is lost', async () => {
    const cluster = await startCluster(1);
    cleanups.push(() => cluster.cleanup());
    const { nameServer } = cluster;
    const broker = cluster.brokers[0]!;
    await createTopic(nameServer, 'jobs', 1, 4);
    const producer = await producerFor(nameServer);
    const consumer = await consumerFor(nameServer, 'crash', 'jobs');
    const settled = Array.from({ length: 10 }, (_, i) => `settled${i}`);
    for (const text of settled) await producer.send({ topic: 'jobs', body: text });
    // Invisible long enough to outlast the wait for the offsets file, the kill and the restart.
    const first = await receiveUntil(consumer, 12_000, (log) => log.length >= 10, 15_000);
    expect(first.map((d) => body(d.message)).sort()).toEqual([...settled].sort());
    const acked = new Set<string>();
    for (const d of first.slice(0, 3)) {
      await consumer.ack(d.message);
      acked.add(body(d.message));
    }
    // Offsets reach the disk within offsetPersistIntervalMs: wait for them, so these pops are not repeated as new.
    const offsetsFile = join(broker.dataDir, 'config', 'consumer-offsets.json');
    await eventually(async () => {
      const table = JSON.parse(await readFile(offsetsFile, 'utf8')) as { offsets: Record<string, Record<string, Record<string, number>>> };
      const queues = table.offsets.crash?.jobs ?? {};
      return Object.values(queues).reduce((sum, offset) => sum + offset, 0) === 10 ? true : undefined;
    }, 15_000, 'the pop offsets on disk');
    // Popped just before the crash, offsets maybe not on disk yet: they must come back too (possibly twice).
    const late = ['late0', 'late1', 'late2'];
    for (const text of late) await producer.send({ topic: 'jobs', body: text });
    const has = (log: Delivery[], text: string): boolean => log.some((d) => body(d.message) === text);
    const before = await receiveUntil(consumer, 12_000, (log) => late.every((text) => has(log, text)), 15_000);
    expect(late.filter((text) => !has(before, text))).toEqual([]);

    broker.process.kill('SIGKILL');
    await broker.process.exited;
    const restarted = startLiteMQ([
      'broker', '--port', '0', '--data-dir', broker.dataDir, '--namesrv', nameServer, '--log-level', 'warn', '--set', `broker.brokerName=${broker.name}`,
    ]);
    await waitReady(restarted);

    const wanted = [...settled.filter((text) => !acked.has(text)), ...late];
    const after = await receiveUntil(consumer, 30_000, (log) => wanted.every((text) => has(log, text)), 40_000);
    expect(wanted.filter((text) => !has(after, text))).toEqual([]);
    for (const d of after) {
      // Unacknowledged pops come back as redeliveries (a pop whose offset was not on disk may also come back as new).
      if (settled.includes(body(d.message))) expect(d.message.reconsumeTimes).toBeGreaterThanOrEqual(1);
      await consumer.ack(d.message).catch(() => undefined);
    }
    // The acknowledged ones stay acknowledged across the crash (their offsets were on disk, their acks are durable).
    const quiet = await receiveUntil(consumer, 30_000, () => false, 3_000, after);
    expect(quiet.filter((d) => acked.has(body(d.message)))).toEqual([]);
  }, 120_000);
});
