import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Message } from '@litemq/protocol';
import { concatRecords, encodeRecord } from '@litemq/protocol';

const dirs: string[] = [];

/** A fresh directory removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-storage-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
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
