import { expect } from 'vitest';
import type { Frame, PopMessageRequestHeader, ReceivedMessage, RpcClient } from '@litemq/protocol';
import { RequestCode, TopicPerm, decodeRecords, expectSuccess } from '@litemq/protocol';
import type { Broker } from '../src/index.js';
import { client, record, startBroker } from './helpers.js';

/** Pop test helpers: requests as a SimpleConsumer sends them, on a broker with a 'jobs' topic. */

export const GROUP = 'workers';

export interface Popped {
  messages: ReceivedMessage[];
  handles: string[];
  frame: Frame;
}

export async function pop(rpc: RpcClient, broker: Broker, header: Partial<PopMessageRequestHeader> = {}): Promise<Popped> {
  const full: PopMessageRequestHeader = {
    group: GROUP, subscriptions: [{ topic: 'jobs' }], maxCount: 32, invisibleMs: 1_000, fromWhere: 'FIRST_OFFSET', ...header,
  };
  const frame = expectSuccess(await rpc.request(broker.address, RequestCode.POP_MESSAGE, full, undefined, { timeoutMs: (full.pollMs ?? 0) + 10_000 }));
  const messages = frame.body.length > 0 ? decodeRecords(frame.body) : [];
  const handles = frame.header.handles as string[];
  expect(handles.length).toBe(messages.length);
  expect(frame.header.count).toBe(messages.length);
  return { messages, handles, frame };
}

export async function ack(rpc: RpcClient, broker: Broker, handle: string, group = GROUP): Promise<Frame> {
  return rpc.request(broker.address, RequestCode.ACK_MESSAGE, { group, handle });
}

export async function change(rpc: RpcClient, broker: Broker, handle: string, invisibleMs: number): Promise<Frame> {
  return rpc.request(broker.address, RequestCode.CHANGE_INVISIBLE_TIME, { group: GROUP, handle, invisibleMs });
}

export async function setup(options: Parameters<typeof startBroker>[0] = {}, queueNums = 2) {
  const broker = await startBroker({ timer: { precisionMs: 20 }, ...options });
  await broker.topics.put({ topic: 'jobs', readQueueNums: queueNums, writeQueueNums: queueNums, perm: TopicPerm.READ_WRITE });
  const rpc = client();
  return { broker, rpc };
}

/** Sends `count` messages spread over the queues; resolves with their bodies. */
export async function send(rpc: RpcClient, broker: Broker, count: number, queueNums = 2, prefix = 'm', extra: Parameters<typeof record>[3] = {}): Promise<string[]> {
  const bodies = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  const body = Buffer.concat(bodies.map((text, i) => record('jobs', text, i % queueNums, extra)));
  expectSuccess(await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body));
  return bodies;
}

/** Pops (long polling) until `count` messages came back or `timeoutMs` passed. */
export async function popAll(rpc: RpcClient, broker: Broker, count: number, timeoutMs: number, header: Partial<PopMessageRequestHeader> = {}): Promise<Popped> {
  const out: Popped = { messages: [], handles: [], frame: undefined as unknown as Frame };
  const deadline = Date.now() + timeoutMs;
  while (out.messages.length < count && Date.now() < deadline) {
    const next = await pop(rpc, broker, { pollMs: Math.max(1, deadline - Date.now()), ...header });
    out.messages.push(...next.messages);
    out.handles.push(...next.handles);
    out.frame = next.frame;
  }
  return out;
}
