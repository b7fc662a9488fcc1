// Shared by the orderly consumer tests: a fake broker with queue locks, a consumer factory and a delivery recorder.
import type { Frame, FrameHeader, LockQueue, ReceivedMessage, RpcReply } from '@litemq/protocol';
import { RequestCode, ResponseCode, rpcFailure } from '@litemq/protocol';
import { afterEach } from 'vitest';
import { Producer, PushConsumer } from '../src/index.js';
import type { ClientLogger, PushConsumerOptions } from '../src/index.js';
import type { FakeBroker } from './fake-cluster.js';
import { startCluster } from './fake-cluster.js';

export const cleanups: Array<() => Promise<void>> = [];
const gates: Array<() => void> = [];
afterEach(async () => {
  // Blocked handlers return first, or closing their consumers would wait for them.
  for (const open of gates.splice(0)) open();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One lock, unlock or offset commit the fake broker answered, in arrival order. */
export interface LockEvent {
  kind: 'lock' | 'lock-failed' | 'unlock' | 'commit' | 'commit-failed';
  clientId?: string;
  queueIds: number[];
  /** lock: the queues granted. */
  granted?: number[];
  at: number;
}

/**
 * LOCK_BATCH_MQ / UNLOCK_BATCH_MQ / CONSUMER_SEND_BACK / COMMIT_OFFSET on a fake broker: a lock table with a lease
 * like the real broker's (the client package cannot import @litemq/broker), a record of every send-back, a log of
 * lock, unlock and commit requests in arrival order, and commits that fail on demand.
 */
export function addLocks(broker: FakeBroker, initialLeaseMs = 60_000) {
  const owners = new Map<string, { clientId: string; at: number }>();
  const sendBacks: FrameHeader[] = [];
  const events: LockEvent[] = [];
  const control: {
    leaseMs: number;
    failCommits: number;
    /** Answer every LOCK_BATCH_MQ with an error (as if the broker could not be reached). */
    failLocks: boolean;
    /** Called once an UNLOCK was applied. */
    onUnlock?: (clientId: string, queueIds: number[]) => void;
  } = { leaseMs: initialLeaseMs, failCommits: 0, failLocks: false };
  /** LOCK requests held (not looked at yet), by client id: those of the clients in `holding`. */
  const held = new Map<string, Array<() => void>>();
  const keyOf = (group: string, queue: LockQueue) => `${group}@${queue.topic}@${queue.queueId}`;
  const lock = (frame: Frame) => {
    const { group, clientId, queues } = frame.header as { group: string; clientId: string; queues: LockQueue[] };
    const now = Date.now();
    if (control.failLocks) {
      events.push({ kind: 'lock-failed', clientId, queueIds: queues.map((q) => q.queueId), at: now });
      throw rpcFailure(ResponseCode.SYSTEM_ERROR, 'injected lock failure');
    }
    const locked = queues.filter((queue) => {
      const owner = owners.get(keyOf(group, queue));
      if (owner && owner.clientId !== clientId && now - owner.at <= control.leaseMs) return false;
      owners.set(keyOf(group, queue), { clientId, at: now });
      return true;
    });
    events.push({ kind: 'lock', clientId, queueIds: queues.map((q) => q.queueId), granted: locked.map((q) => q.queueId), at: now });
    return { header: { locked, leaseMs: control.leaseMs } };
  };
  broker.server.register(RequestCode.LOCK_BATCH_MQ, (frame) => {
    const queue = held.get(frame.header.clientId as string);
    if (!queue) return lock(frame);
    return new Promise<RpcReply>((resolve) => queue.push(() => resolve(lock(frame))));
  });
  broker.server.register(RequestCode.UNLOCK_BATCH_MQ, (frame) => {
    const { group, clientId, queues } = frame.header as { group: string; clientId: string; queues: LockQueue[] };
    events.push({ kind: 'unlock', clientId, queueIds: queues.map((q) => q.queueId), at: Date.now() });
    const unlocked = queues.filter((queue) => owners.get(keyOf(group, queue))?.clientId === clientId && owners.delete(keyOf(group, queue)));
    control.onUnlock?.(clientId, queues.map((q) => q.queueId));
    return { header: { unlocked } };
  });
  broker.server.register(RequestCode.CONSUMER_SEND_BACK, (frame) => {
    sendBacks.push({ ...frame.header });
    return { header: { outcome: 'DLQ', reconsumeTimes: frame.header.reconsumeTimes ?? 0, topic: '%DLQ%cg' } };
  });
  broker.server.register(RequestCode.COMMIT_OFFSET, (frame) => {
    const { group, offsets } = frame.header as { group: string; offsets: Array<{ topic: string; queueId: number; offset: number }> };
    const queueIds = offsets.map((o) => o.queueId);
    if (control.failCommits > 0) {
      control.failCommits--;
      events.push({ kind: 'commit-failed', queueIds, at: Date.now() });
      throw rpcFailure(ResponseCode.SYSTEM_ERROR, 'injected commit failure');
    }
    events.push({ kind: 'commit', queueIds, at: Date.now() });
    broker.commitRequests.push({ group, offsets });
    for (const o of offsets) broker.committed.set(`${group}@${o.topic}@${o.queueId}`, o.offset);
    return {};
  });
  return {
    owners,
    sendBacks,
    events,
    control,
    /** Holds the client's LOCK requests (as if this broker were slow for it) until releaseHeld(clientId). */
    holdLocksOf: (clientId: string) => void held.set(clientId, held.get(clientId) ?? []),
    heldCount: (clientId: string) => held.get(clientId)?.length ?? 0,
    /** Stops holding the client's LOCK requests and applies and answers the held ones now, in arrival order. */
    releaseHeld: (clientId: string) => {
      const queue = held.get(clientId) ?? [];
      held.delete(clientId);
      for (const answer of queue) answer();
    },
    ownerOf: (queueId: number, group = 'cg') => owners.get(keyOf(group, { topic: 'orders', queueId }))?.clientId,
    hold: (queueId: number, clientId: string, group = 'cg') => owners.set(keyOf(group, { topic: 'orders', queueId }), { clientId, at: Date.now() }),
  };
}

/** A logger keeping every message (for waiting on what the consumer did). */
export function capturingLogger(): ClientLogger & { messages: string[]; has(text: string): boolean } {
  const messages: string[] = [];
  const log = (_object: object, message: string): void => void messages.push(message);
  return { messages, debug: log, info: log, warn: log, error: log, has: (text) => messages.some((m) => m.includes(text)) };
}

export async function setup(queueNums = 2, leaseMs = 60_000) {
  const cluster = await startCluster({ brokers: 1, topics: ['orders'], queueNums });
  cleanups.push(() => cluster.close());
  const broker = cluster.brokers[0]!;
  const locks = addLocks(broker, leaseMs);
  const producer = new Producer({ nameServers: [cluster.nameServer.address] });
  cleanups.push(() => producer.close());
  await producer.start();
  const consumer = (overrides: Partial<PushConsumerOptions> = {}) => {
    const c = new PushConsumer({
      nameServers: [cluster.nameServer.address], group: 'cg', consumeFromWhere: 'FIRST_OFFSET', orderly: { suspendMs: 20, lockRenewIntervalMs: 50 },
      rebalanceIntervalMs: 100, commitIntervalMs: 50, ...overrides,
    });
    cleanups.push(() => c.close());
    return c.subscribe('orders');
  };
  /** Sends `perKey` messages for each key, each key's messages one after the other (`key:seq` bodies). */
  const sendKeys = (keys: string[], perKey: number, poison?: string) =>
    Promise.all(
      keys.map(async (key) => {
        for (let seq = 0; seq < perKey; seq++) {
          const body = `${key}:${seq}`;
          await producer.send({ topic: 'orders', body, shardingKey: key, properties: body === poison ? { poison: 'yes' } : {} });
        }
      }),
    );
  return { cluster, broker, locks, producer, consumer, sendKeys };
}

export interface Delivery {
  consumer: string;
  body: string;
  queueId: number;
  offset: number;
  reconsumeTimes: number;
  startedAt: number;
  endedAt: number;
  failed: boolean;
}

/** A handler that records every delivery and checks no two messages of one queue ever overlap. */
export function recorder(name: string, log: Delivery[], active: Map<number, string>, behaviour: (message: ReceivedMessage) => Promise<void> | void = () => undefined) {
  return async (message: ReceivedMessage) => {
    const holder = active.get(message.queueId);
    if (holder !== undefined) throw new Error(`queue ${message.queueId} already has a message in ${holder}'s handler`);
    active.set(message.queueId, name);
    const delivery: Delivery = {
      consumer: name, body: message.body.toString(), queueId: message.queueId, offset: message.queueOffset, reconsumeTimes: message.reconsumeTimes,
      startedAt: Date.now(), endedAt: 0, failed: false,
    };
    log.push(delivery);
    try {
      await behaviour(message);
    } catch (error) {
      delivery.failed = true;
      throw error;
    } finally {
      delivery.endedAt = Date.now();
      active.delete(message.queueId);
    }
  };
}

/** Successful deliveries of each key, in delivery order. */
export function perKey(log: Delivery[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const d of log) {
    if (d.failed) continue;
    const [key, seq] = d.body.split(':');
    const list = out.get(key!) ?? [];
    out.set(key!, list);
    list.push(Number(seq));
  }
  return out;
}

export const KEYS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);


/** A promise to open by hand (a handler blocked until the test lets it finish). */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  gates.push(open);
  return { promise, open };
}
