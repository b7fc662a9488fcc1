import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RpcReply } from '@litemq/protocol';
import { RequestCode } from '@litemq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { PushConsumer, SimpleConsumer } from '../src/index.js';
import type { FakeBroker } from './fake-cluster.js';
import { startCluster, waitFor } from './fake-cluster.js';
import { trackClientTimers } from './timer-tracker.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster() {
  const c = await startCluster({ brokers: 1, topics: ['orders'], queueNums: 2 });
  cleanups.push(() => c.close());
  return c;
}

/** Holds the broker's HEARTBEAT answers until release() (the consumer's start() then waits on its heartbeat). */
function holdHeartbeats(broker: FakeBroker) {
  const held: Array<() => void> = [];
  broker.server.register(RequestCode.HEARTBEAT, (frame) => {
    broker.heartbeats.push({ ...frame.header });
    return new Promise<RpcReply>((resolve) => held.push(() => resolve({})));
  });
  return {
    count: () => held.length,
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
  };
}

/** Short intervals, so a timer created by mistake after close() would show (and run) at once. */
const fast = { heartbeatIntervalMs: 20, rebalanceIntervalMs: 20, commitIntervalMs: 20, routeRefreshMs: 20 };

describe('close() while start() is under way', () => {
  it('broadcasting: start() fails with CLIENT_CLOSED, the offset file lock is released and no timer is left', async () => {
    const { nameServer } = await cluster();
    const offsetStoreDir = await mkdtemp(join(tmpdir(), 'litemq-close-start-'));
    cleanups.push(() => rm(offsetStoreDir, { recursive: true, force: true }));
    const timers = trackClientTimers();
    const options = { nameServers: [nameServer.address], group: 'cg', messageModel: 'broadcasting' as const, offsetStoreDir, instanceName: 'node-a', ...fast };
    const consumer = new PushConsumer(options).subscribe('orders');
    cleanups.push(() => consumer.close());
    // start() is opening the offset file (awaiting the file system) when close() is called.
    const started = consumer.start(() => undefined);
    const closed = consumer.close();
    await expect(started).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await closed;
    expect(timers.live()).toEqual([]);
    expect(consumer.assignedQueues()).toEqual([]);
    expect(existsSync(`${consumer.offsetStorePath!}.lock`)).toBe(false);
    // The file is free: another consumer of the same instance takes it.
    const next = new PushConsumer(options).subscribe('orders');
    cleanups.push(() => next.close());
    await next.start(() => undefined);
    await waitFor(() => next.assignedQueues().length === 2, 5000, 'the next consumer running');
  });

  it('clustering: start() fails with CLIENT_CLOSED once its heartbeat returns, creates no timer, and leaves the group', async () => {
    const { nameServer, brokers } = await cluster();
    const broker = brokers[0]!;
    const heartbeats = holdHeartbeats(broker);
    const timers = trackClientTimers();
    const consumer = new PushConsumer({ nameServers: [nameServer.address], group: 'cg', ...fast }).subscribe('orders');
    cleanups.push(() => consumer.close());
    const started = consumer.start(() => undefined);
    const outcome = started.then(() => 'started', (error: unknown) => error);
    await waitFor(() => heartbeats.count() === 1, 5000, 'the first heartbeat held');
    const closed = consumer.close();
    heartbeats.release();
    expect(await outcome).toMatchObject({ code: 'CLIENT_CLOSED' });
    await closed;
    expect(timers.live()).toEqual([]);
    expect(consumer.assignedQueues()).toEqual([]);
    expect(broker.pulls).toEqual([]);
    expect(broker.members.get('cg')?.size ?? 0).toBe(0); // unregistered
  });

  it('SimpleConsumer: start() fails with CLIENT_CLOSED once its heartbeat returns, and creates no timer', async () => {
    const { nameServer, brokers } = await cluster();
    const broker = brokers[0]!;
    const heartbeats = holdHeartbeats(broker);
    const timers = trackClientTimers();
    const consumer = new SimpleConsumer({ nameServers: [nameServer.address], group: 'pop', heartbeatIntervalMs: 20, routeRefreshMs: 20 }).subscribe('orders');
    cleanups.push(() => consumer.close());
    const started = consumer.start();
    const outcome = started.then(() => 'started', (error: unknown) => error);
    await waitFor(() => heartbeats.count() === 1, 5000, 'the first heartbeat held');
    await expect(consumer.receive(1, 1000)).rejects.toMatchObject({ code: 'NOT_STARTED' });
    const closed = consumer.close();
    heartbeats.release();
    expect(await outcome).toMatchObject({ code: 'CLIENT_CLOSED' });
    await closed;
    expect(timers.live()).toEqual([]);
  });
});
