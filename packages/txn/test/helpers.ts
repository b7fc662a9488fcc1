import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Message, ReceivedMessage } from '@litemq/protocol';
import { RecordFlag, decodeRecords, encodeRecord } from '@litemq/protocol';
import { MessageStore } from '@litemq/storage';
import type { TransactionServiceConfig } from '../src/index.js';
import { TransactionService } from '../src/index.js';

const dirs: string[] = [];
const closers: Array<() => Promise<void>> = [];

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-txn-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export interface Opened {
  store: MessageStore;
  txn: TransactionService;
  /** Closes the store without closing the service: no final snapshot, like a crash after the last write. */
  crash(): Promise<void>;
}

export async function openTxn(dir: string, config: Omit<TransactionServiceConfig, 'dir'> = {}): Promise<Opened> {
  const store = await MessageStore.open(join(dir, 'store'));
  const txn = await TransactionService.open(store, { dir, snapshotIntervalMs: 3_600_000, scanIntervalMs: 3_600_000, ...config });
  let done = false;
  const close = async () => {
    if (done) return;
    done = true;
    await txn.close();
    await store.close();
  };
  closers.push(close);
  return {
    store,
    txn,
    crash: async () => {
      done = true;
      await store.close();
    },
  };
}

export function prepared(message: Partial<Message> = {}, queueId = 1, systemProperties?: Record<string, string>): Buffer {
  return encodeRecord({ topic: 'orders', body: 'payload', ...message }, { flags: RecordFlag.TX_PREPARED, queueId, systemProperties });
}

export async function readAll(store: MessageStore, topic: string, queueId: number): Promise<ReceivedMessage[]> {
  const result = await store.read(topic, queueId, 0, { maxCount: 10_000 });
  return result.count === 0 ? [] : decodeRecords(result.records);
}
