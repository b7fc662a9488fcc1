import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import type { Message, ReceivedMessage } from '@litemq/protocol';
import { concatRecords, decodeRecords, encodeRecord } from '@litemq/protocol';
import type { MessageStoreOptions } from '../src/index.js';
import { MessageStore } from '../src/index.js';

const dirs: string[] = [];
const stores: MessageStore[] = [];

/** A fresh directory removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-storage-'));
  dirs.push(dir);
  return dir;
}

/** Opens a store that is closed after the test even when the test fails half way. */
export async function openStore(dir: string, options: MessageStoreOptions = {}): Promise<MessageStore> {
  const store = await MessageStore.open(dir, options);
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export function record(topic: string, body: string | Buffer, queueId = 0, extra: Partial<Message> = {}): Buffer {
  return encodeRecord({ topic, body, ...extra }, { queueId });
}

export function batch(topic: string, count: number, queueId = 0, prefix = 'm'): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) records.push(record(topic, `${prefix}${i}`, queueId));
  return concatRecords(records);
}

/** Recovery and corruption warnings are expected in these tests: keep the output clean. */
export const silentLogger = pino({ level: 'silent' });

/** Small segments so a few hundred records roll both the commit log and the consume queues. */
export const SMALL_SEGMENTS = {
  segmentBytes: 256 * 1024,
  maxBodyBytes: 64 * 1024,
  consumeQueueEntriesPerSegment: 32,
  logger: silentLogger,
} as const satisfies MessageStoreOptions;

/** Resolves once `topic/queueId` has at least `maxOffset` readable entries (event driven, no polling). */
export function waitForQueue(store: MessageStore, topic: string, queueId: number, maxOffset: number): Promise<void> {
  const reached = () => (store.queueOffsets(topic, queueId)?.maxOffset ?? 0) >= maxOffset;
  if (reached()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = store.onMessagesAvailable(() => {
      if (!reached()) return;
      off();
      resolve();
    });
    if (reached()) {
      off();
      resolve();
    }
  });
}

/** Every readable record of a queue from its min offset, following nextOffset until the end. */
export async function readAll(store: MessageStore, topic: string, queueId: number): Promise<ReceivedMessage[]> {
  const offsets = store.queueOffsets(topic, queueId);
  if (!offsets) return [];
  const out: ReceivedMessage[] = [];
  let offset = offsets.minOffset;
  while (offset < offsets.maxOffset) {
    const result = await store.read(topic, queueId, offset, { maxCount: 64 });
    if (result.count > 0) out.push(...decodeRecords(result.records));
    if (result.nextOffset <= offset) throw new Error(`read of ${topic}/${queueId} at ${offset} did not advance (${result.status})`);
    offset = result.nextOffset;
  }
  return out;
}

/** The commit-log segment file and position inside it holding `commitLogOffset`. */
export function logPosition(dir: string, segmentBytes: number, commitLogOffset: number): { file: string; position: number } {
  const start = commitLogOffset - (commitLogOffset % segmentBytes);
  return { file: join(dir, 'commitlog', String(start).padStart(20, '0')), position: commitLogOffset - start };
}

/** XORs one byte of a file in place. */
export async function flipByte(file: string, position: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

/** Segment file paths of a segmented directory, oldest first. */
export async function segmentFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => /^\d{20}$/.test(name)).sort().map((name) => join(dir, name));
}
