import { crc32 } from 'node:zlib';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory } from './sync-directory.js';

/**
 * What is known durable, written atomically (temp file + fsync + rename) with a CRC. Recovery scans
 * the log only from here, so its cost is bounded by the data written since the last checkpoint.
 */
export interface Checkpoint {
  /** Every commit-log byte below is fdatasync'ed. */
  commitLogFlushedOffset: number;
  /** Every record below is in the consume queues and the index, and those are fdatasync'ed. */
  dispatchedOffset: number;
  /** Next offset of each queue at checkpoint time: a queue found behind this was deleted or is stale. */
  queues: Record<string, number>;
  writtenAt: number;
}

const FILE = 'checkpoint';

export function emptyCheckpoint(): Checkpoint {
  return { commitLogFlushedOffset: 0, dispatchedOffset: 0, queues: {}, writtenAt: 0 };
}

export async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const newline = text.indexOf('\n');
  const body = text.slice(newline + 1);
  if (newline < 0 || Number(text.slice(0, newline)) !== crc32(body)) return undefined;
  try {
    return JSON.parse(body) as Checkpoint;
  } catch {
    return undefined;
  }
}

export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  const body = JSON.stringify(checkpoint);
  const temp = join(dir, `${FILE}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${crc32(body)}\n${body}`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, join(dir, FILE));
  await syncDirectory(dir);
}

export function queueKey(topic: string, queueId: number): string {
  return `${topic}/${queueId}`;
}
