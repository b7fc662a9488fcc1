import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import type { Frame, FrameHeader, Message, PullRequestHeader, RpcClientOptions } from '@litemq/protocol';
import { RequestCode, RpcClient, RpcServer, concatRecords, encodeRecord, readU64 } from '@litemq/protocol';
import type { BrokerOptions } from '../src/index.js';
import { Broker } from '../src/index.js';

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-broker-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A broker on an ephemeral port, closed after the test. */
export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<Broker> {
  const broker = await Broker.start({ brokerName: 'broker-a', dataDir: options.dataDir ?? (await tempDir()), logger: pino({ level: 'silent' }), ...options });
  cleanups.push(() => broker.close());
  return broker;
}

/** An RpcClient (its own connection per server) closed after the test. */
export function client(options: RpcClientOptions = {}): RpcClient {
  const rpc = new RpcClient(options);
  cleanups.push(() => rpc.close());
  return rpc;
}

export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

export function record(topic: string, body: string | Buffer, queueId = 0, extra: Partial<Message> = {}): Buffer {
  return encodeRecord({ topic, body, ...extra }, { queueId });
}

export function batch(topic: string, count: number, queueId = 0, prefix = 'm'): Buffer {
  return concatRecords(Array.from({ length: count }, (_, i) => record(topic, `${prefix}${i}`, queueId)));
}

/** The [queueOffset, commitLogOffset] pairs of a send response body. */
export function sendResults(frame: Frame): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let at = 0; at < frame.body.length; at += 16) out.push([readU64(frame.body, at), readU64(frame.body, at + 8)]);
  return out;
}

export function pull(rpc: RpcClient, address: string, header: Partial<PullRequestHeader> & { topic: string }, timeoutMs = 20_000): Promise<Frame> {
  const full: PullRequestHeader = { group: 'g1', queueId: 0, offset: 0, maxCount: 32, ...header };
  return rpc.request(address, RequestCode.PULL_MESSAGE, full, undefined, { timeoutMs });
}

/** Resolves once `condition` holds (checked every few ms), or rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves once `count` messages of a queue are readable (queue entries are written just behind the append). */
export function readable(broker: Broker, topic: string, queueId: number, count: number): Promise<void> {
  return waitFor(() => (broker.store.queueOffsets(topic, queueId)?.maxOffset ?? 0) >= count, 10_000, `${count} readable messages in ${topic}/${queueId}`);
}

/** A stand-in NameServer that records REGISTER_BROKER and UNREGISTER_BROKER requests. */
export async function recordingNameServer(): Promise<{ address: string; registers: FrameHeader[]; unregisters: FrameHeader[]; server: RpcServer }> {
  const registers: FrameHeader[] = [];
  const unregisters: FrameHeader[] = [];
  const server = new RpcServer();
  server.register(RequestCode.REGISTER_BROKER, (frame) => {
    registers.push(frame.header);
    return {};
  });
  server.register(RequestCode.UNREGISTER_BROKER, (frame) => {
    unregisters.push(frame.header);
    return {};
  });
  const port = await server.listen(0);
  cleanups.push(() => server.close(0));
  return { address: `127.0.0.1:${port}`, registers, unregisters, server };
}

/** An address nothing listens on (connections are refused). */
export async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}
