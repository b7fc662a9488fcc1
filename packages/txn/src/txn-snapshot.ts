import { crc32 } from 'node:zlib';
import { open, readFile, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readU64, writeU64 } from '@litemq/protocol';

/**
 * A snapshot of the pending halves and how far the half and op queues had been applied when it was taken.
 * Binary: magic u32 | version u8 | halfCursor u64 | opCursor u64 | count u32 | count × entry | crc32 u32,
 * entry = offset u64 | storeTime u64 | nextCheckAt u64 | checks u16 (26 bytes).
 */
export interface TxnSnapshot {
  halfCursor: number;
  opCursor: number;
  entries: Array<{ offset: number; storeTime: number; nextCheckAt: number; checks: number }>;
}

const MAGIC = 0x4c4d5458; // "LMTX"
const VERSION = 1;
const HEAD = 4 + 1 + 8 + 8 + 4;
const ENTRY = 26;

export function encodeSnapshot(snapshot: TxnSnapshot): Buffer {
  const buf = Buffer.alloc(HEAD + snapshot.entries.length * ENTRY + 4);
  buf.writeUInt32BE(MAGIC, 0);
  buf[4] = VERSION;
  writeU64(buf, 5, snapshot.halfCursor);
  writeU64(buf, 13, snapshot.opCursor);
  buf.writeUInt32BE(snapshot.entries.length, 21);
  let at = HEAD;
  for (const entry of snapshot.entries) {
    writeU64(buf, at, entry.offset);
    writeU64(buf, at + 8, Math.max(0, Math.trunc(entry.storeTime)));
    writeU64(buf, at + 16, Math.max(0, Math.trunc(entry.nextCheckAt)));
    buf.writeUInt16BE(entry.checks, at + 24);
    at += ENTRY;
  }
  buf.writeUInt32BE(crc32(buf.subarray(0, at)), at);
  return buf;
}

/** Undefined for a missing, torn or corrupt file (the caller then replays the queues from the start). */
export function decodeSnapshot(buf: Buffer): TxnSnapshot | undefined {
  if (buf.length < HEAD + 4 || buf.readUInt32BE(0) !== MAGIC || buf[4] !== VERSION) return undefined;
  const count = buf.readUInt32BE(21);
  const end = HEAD + count * ENTRY;
  if (buf.length !== end + 4 || crc32(buf.subarray(0, end)) !== buf.readUInt32BE(end)) return undefined;
  const entries: TxnSnapshot['entries'] = [];
  for (let at = HEAD; at < end; at += ENTRY) {
    entries.push({ offset: readU64(buf, at), storeTime: readU64(buf, at + 8), nextCheckAt: readU64(buf, at + 16), checks: buf.readUInt16BE(at + 24) });
  }
  return { halfCursor: readU64(buf, 5), opCursor: readU64(buf, 13), entries };
}

export async function readSnapshotFile(path: string): Promise<TxnSnapshot | undefined> {
  try {
    return decodeSnapshot(await readFile(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes atomically: temp file, fsync, rename. */
export async function writeSnapshotFile(path: string, snapshot: TxnSnapshot): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(encodeSnapshot(snapshot));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}
