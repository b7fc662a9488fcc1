import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameHeader, ReceivedMessage } from '@litemq/protocol';
import { RequestCode } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../src/index.js';
import { failureReasonOf } from '../src/retry-message.js';
import { startCluster, waitFor } from './fake-cluster.js';
import type { Delivery } from './orderly-fixture.js';
import { capturingLogger, cleanups, perKey, recorder, setup } from './orderly-fixture.js';

/** What a handler may throw that JSON cannot serialize. */
function circular(): Record<string, unknown> {
  const value: Record<string, unknown> = { kind: 'circular' };
  value.self = value;
  return value;
}

const throwingOption = (): number => {
  throw new Error('maxReconsumeTimes option failed');
};

/** Fails instead of hanging when `promise` does not settle in time. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function plainCluster() {
  const cluster = await startCluster({ brokers: 1, topics: ['orders'], queueNums: 1 });
  cleanups.push(() => cluster.close());
  const producer = new Producer({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => producer.close());
  await producer.start();
  return { cluster, broker: cluster.brokers[0]!, producer };
}

describe('the failure path never blocks a queue or close()', () => {
  it('failureReasonOf describes anything a handler can throw, in at most 512 characters', () => {
    expect(failureReasonOf(circular())).toBe('[object Object]');
    expect(failureReasonOf(10n)).toBe('10');
    expect(failureReasonOf({ code: 7 })).toBe('{"code":7}');
    expect(failureReasonOf(undefined)).toBe('undefined');
    const hostile = {
      toJSON(): never {
        throw new Error('no JSON');
      },
      toString(): never {
        throw new Error('no string');
      },
    };
    expect(failureReasonOf(hostile)).toBe('[object Object]');
    expect(failureReasonOf(new Error('x'.repeat(2000)))).toHaveLength(512);
    expect(failureReasonOf({ long: 'y'.repeat(2000) })).toHaveLength(512);
  });

  it('clustering: a circular object thrown with a throwing maxReconsumeTimes function is sent back with the group limit', async () => {
    const { cluster, broker, producer } = await plainCluster();
    const sendBacks: FrameHeader[] = [];
    broker.server.register(RequestCode.CONSUMER_SEND_BACK, (frame) => {
      sendBacks.push({ ...frame.header });
      return { header: { outcome: 'RETRY', reconsumeTimes: 1 } };
    });
    await producer.send({ topic: 'orders', body: 'm0' });
    await producer.send({ topic: 'orders', body: 'm1' });
    const logger = capturingLogger();
    const c = new PushConsumer({
      nameServers: [cluster.nameServer.address], group: 'cg', consumeFromWhere: 'FIRST_OFFSET', commitIntervalMs: 20, logger, maxReconsumeTimes: throwingOption,
    }).subscribe('orders');
    cleanups.push(() => c.close());
    const seen: string[] = [];
    await c.start((message: ReceivedMessage) => {
      seen.push(message.body.toString());
      if (message.body.toString() === 'm0') throw circular();
    });
    await waitFor(() => sendBacks.length === 1 && broker.committed.get('cg@orders@0') === 2, 5000, 'm0 sent back and the offset committed past it');
    expect(sendBacks[0]).toMatchObject({ group: 'cg', failureReason: '[object Object]' });
    expect(sendBacks[0]!.maxReconsumeTimes).toBeUndefined(); // the group's (broker's) limit applies
    expect(logger.has('maxReconsumeTimes function threw')).toBe(true);
    await within(c.close(), 3000, 'close()');
    expect(seen.sort()).toEqual(['m0', 'm1']);
  });

  it('broadcasting: a throwing maxReconsumeTimes function falls back to the default limit (retried in place)', async () => {
    const { cluster, producer } = await plainCluster();
    const offsetStoreDir = await mkdtemp(join(tmpdir(), 'litemq-failure-path-'));
    cleanups.push(() => rm(offsetStoreDir, { recursive: true, force: true }));
    await producer.send({ topic: 'orders', body: 'm0' });
    const logger = capturingLogger();
    const c = new PushConsumer({
      nameServers: [cluster.nameServer.address], group: 'cg', messageModel: 'broadcasting', offsetStoreDir, instanceName: 'node-a', consumeFromWhere: 'FIRST_OFFSET',
      logger, maxReconsumeTimes: throwingOption,
    }).subscribe('orders');
    cleanups.push(() => c.close());
    const seen: number[] = [];
    await c.start((message: ReceivedMessage) => {
      seen.push(message.reconsumeTimes);
      if (seen.length === 1) throw circular();
    });
    await waitFor(() => seen.length === 2, 5000, 'the redelivery');
    expect(seen).toEqual([0, 1]);
    expect(logger.has('maxReconsumeTimes function threw')).toBe(true);
    await within(c.close(), 3000, 'close()');
  });

  it('orderly: unserializable failures and a throwing maxReconsumeTimes function retry in place, dead-letter, and close() returns', async () => {
    const { locks, consumer, producer } = await setup(1);
    for (const body of ['k:0', 'k:1', 'p:0']) await producer.send({ topic: 'orders', body, shardingKey: 'k' });
    const logger = capturingLogger();
    const c = consumer({ logger, maxReconsumeTimes: (message) => (message.body.toString() === 'p:0' ? 0 : throwingOption()) });
    const log: Delivery[] = [];
    let k0 = 0;
    await c.start(
      recorder('a', log, new Map(), (message) => {
        const body = message.body.toString();
        if (body === 'k:0' && ++k0 === 1) throw circular();
        if (body === 'k:0' && k0 === 2) throw 10n;
        if (body === 'p:0') throw circular();
      }),
    );
    await waitFor(() => locks.sendBacks.length === 1 && perKey(log).get('k')?.length === 2, 5000, 'k retried in place, p:0 dead-lettered');
    // The throwing function counts as no value: the orderly default (5) applies, so k:0 succeeds on its third try.
    expect(log.filter((d) => d.body === 'k:0').map((d) => d.failed)).toEqual([true, true, false]);
    expect(perKey(log).get('k')).toEqual([0, 1]);
    expect(locks.sendBacks[0]).toMatchObject({ delayLevel: -1, maxReconsumeTimes: 0, failureReason: '[object Object]' });
    expect(logger.has('maxReconsumeTimes function threw')).toBe(true);
    await within(c.close(), 3000, 'close()');
  });
});
