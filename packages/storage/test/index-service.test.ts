import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashBytes } from '../src/hash.js';
import { INDEX_ENTRY_SIZE, INDEX_HEADER_SIZE, indexFileName } from '../src/index-file.js';
import { IndexService } from '../src/index-service.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'litemq-index-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SLOTS = 16;

/** Offsets 100, 200, ... with hash = i % distinct and timestamp 1000 + i. */
function fill(service: IndexService, count: number, distinct: number, from = 0): void {
  for (let i = from; i < from + count; i++) service.add(i % distinct, (i + 1) * 100, 1000 + i);
}

/** Offsets the fill() above indexed for `hash`, newest first. */
function expected(hash: number, count: number, distinct: number, from = 0): number[] {
  const out: number[] = [];
  for (let i = from + count - 1; i >= from; i--) if (i % distinct === hash) out.push((i + 1) * 100);
  return out;
}

async function indexFiles(): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('hashBytes', () => {
  it('is FNV-1a and chains through the seed', () => {
    const enc = new TextEncoder();
    expect(hashBytes(enc.encode(''), 0, 0)).toBe(0x811c9dc5);
    expect(hashBytes(enc.encode('a'), 0, 1)).toBe(0xe40c292c);
    expect(hashBytes(enc.encode('foobar'), 0, 6)).toBe(0xbf9cf968);
    const whole = enc.encode('topic#key');
    expect(hashBytes(whole, 6, 9, hashBytes(whole, 0, 6))).toBe(hashBytes(whole, 0, 9));
  });
});

describe('IndexService', () => {
  it('round-trips many colliding hashes in one file', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 10_000 });
    expect(service.maxIndexedOffset).toBe(-1);
    fill(service, 1000, 50); // 50 hashes into 16 slots: every chain mixes several hashes
    for (const hash of [0, 7, 16, 49]) {
      expect(await service.lookup(hash, { maxResults: 1000 })).toEqual(expected(hash, 1000, 50));
    }
    expect(await service.lookup(50)).toEqual([]);
    expect(await service.lookup(3, { maxResults: 5 })).toEqual(expected(3, 1000, 50).slice(0, 5));
    expect(await service.lookup(3)).toHaveLength(20);
    expect(service.maxIndexedOffset).toBe(100_000);
    await service.close();
  });

  it('rolls over several files and finds everything after reopening', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 64 });
    fill(service, 300, 7);
    for (let h = 0; h < 7; h++) expect(await service.lookup(h, { maxResults: 1000 })).toEqual(expected(h, 300, 7));
    await service.flush();
    expect(await indexFiles()).toHaveLength(5);
    for (let h = 0; h < 7; h++) expect(await service.lookup(h, { maxResults: 1000 })).toEqual(expected(h, 300, 7));
    fill(service, 20, 7, 300); // unflushed tail: persisted by close()
    await service.close();

    const names = await indexFiles();
    expect(names[0]).toBe(indexFileName(100));
    expect(names[1]).toBe(indexFileName(6500));
    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 64 });
    expect(reopened.maxIndexedOffset).toBe(32_000);
    for (let h = 0; h < 7; h++) {
      expect(await reopened.lookup(h, { maxResults: 1000 })).toEqual(expected(h, 320, 7));
    }
    // The partly filled newest file is writable again.
    fill(reopened, 100, 7, 320);
    for (let h = 0; h < 7; h++) {
      expect(await reopened.lookup(h, { maxResults: 1000 })).toEqual(expected(h, 420, 7));
    }
    await reopened.close();
  });

  it('gives each file a distinct name when one offset fills a whole file', async () => {
    const service = await IndexService.open(dir, { slotCount: 4, maxEntriesPerFile: 2 });
    for (let k = 0; k < 5; k++) service.add(k, 100, 1); // five keys of one message
    service.add(9, 200, 2);
    await service.close();
    expect(await indexFiles()).toHaveLength(3);
    const reopened = await IndexService.open(dir, { slotCount: 4, maxEntriesPerFile: 2 });
    for (let k = 0; k < 5; k++) expect(await reopened.lookup(k)).toEqual([100]);
    expect(await reopened.lookup(9)).toEqual([200]);
    await reopened.close();
  });

  it('filters by time range across files', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 50 });
    fill(service, 200, 1); // timestamps 1000..1199, hash 0 everywhere
    await service.flush();
    const all = expected(0, 200, 1);
    expect(await service.lookup(0, { maxResults: 500 })).toEqual(all);
    const mid = await service.lookup(0, { maxResults: 500, beginTimestamp: 1040, endTimestamp: 1120 });
    expect(mid).toEqual(all.filter((off) => off / 100 - 1 >= 40 && off / 100 - 1 <= 120));
    expect(await service.lookup(0, { beginTimestamp: 2000 })).toEqual([]);
    expect(await service.lookup(0, { endTimestamp: 1000 })).toEqual([100]);
    await service.close();
  });

  it('truncates from an offset inside an older sealed file', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 40 });
    fill(service, 150, 5); // files of 40: [100..4000] [4100..8000] [8100..12000] [12100..15000]
    await service.truncateFrom(6050); // keeps offsets 100..6000
    expect(service.maxIndexedOffset).toBe(6000);
    expect(await indexFiles()).toHaveLength(2);
    for (let h = 0; h < 5; h++) expect(await service.lookup(h, { maxResults: 500 })).toEqual(expected(h, 60, 5));
    // Indexing resumes in the cut file, then rolls.
    fill(service, 40, 5, 60);
    for (let h = 0; h < 5; h++) expect(await service.lookup(h, { maxResults: 500 })).toEqual(expected(h, 100, 5));
    await service.close();

    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 40 });
    expect(reopened.maxIndexedOffset).toBe(10_000);
    for (let h = 0; h < 5; h++) expect(await reopened.lookup(h, { maxResults: 500 })).toEqual(expected(h, 100, 5));
    await reopened.truncateFrom(50);
    expect(reopened.maxIndexedOffset).toBe(-1);
    expect(await indexFiles()).toEqual([]);
    expect(await reopened.lookup(0)).toEqual([]);
    await reopened.close();
  });

  it('truncates the unflushed active file in memory', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 1000 });
    fill(service, 100, 3);
    await service.truncateFrom(5001);
    expect(service.maxIndexedOffset).toBe(5000);
    for (let h = 0; h < 3; h++) expect(await service.lookup(h, { maxResults: 500 })).toEqual(expected(h, 50, 3));
    await service.close();
    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 1000 });
    for (let h = 0; h < 3; h++) expect(await reopened.lookup(h, { maxResults: 500 })).toEqual(expected(h, 50, 3));
    await reopened.close();
  });

  it('deletes sealed files below an offset but keeps the newest', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 10 });
    fill(service, 45, 2); // 5 files: ends at 1000, 2000, 3000, 4000 and the active one at 4500
    await service.flush();
    expect(await service.deleteFilesBefore(2000)).toBe(1);
    expect(await service.deleteFilesBefore(3500)).toBe(2);
    expect(await indexFiles()).toEqual([indexFileName(3100), indexFileName(4100)]);
    expect(await service.lookup(0, { maxResults: 100 })).toEqual(expected(0, 15, 2, 30));
    expect(await service.deleteFilesBefore(Number.MAX_SAFE_INTEGER)).toBe(1);
    expect(await indexFiles()).toEqual([indexFileName(4100)]);
    expect(service.maxIndexedOffset).toBe(4500);
    await service.close();
  });

  it('renames a file with a corrupt header aside and drops newer ones', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 10 });
    fill(service, 35, 3); // files starting at 100, 1100, 2100, 3100
    await service.close();
    const fh = await open(join(dir, indexFileName(1100)), 'r+');
    await fh.write(Buffer.from([0xde, 0xad]), 0, 2, 40); // inside the CRC-covered header
    await fh.close();

    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 10 });
    expect(await indexFiles()).toEqual([indexFileName(100), `${indexFileName(1100)}.corrupt`]);
    expect(reopened.corruptFiles).toEqual([join(dir, `${indexFileName(1100)}.corrupt`)]);
    expect(reopened.maxIndexedOffset).toBe(1000); // the store re-indexes everything after this
    expect(await reopened.lookup(0, { maxResults: 100 })).toEqual(expected(0, 10, 3));
    fill(reopened, 25, 3, 10);
    expect(await reopened.lookup(0, { maxResults: 100 })).toEqual(expected(0, 35, 3));
    await reopened.close();
  });

  it('terminates on a looping chain in a sealed file', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 8 });
    fill(service, 20, 1); // one chain per file: 8 -> 7 -> ... -> 1
    await service.close();
    const path = join(dir, indexFileName(100));
    const fh = await open(path, 'r+');
    const entryAt = (pos: number): number => INDEX_HEADER_SIZE + SLOTS * 4 + (pos - 1) * INDEX_ENTRY_SIZE;
    const prev = Buffer.alloc(4);
    prev.writeUInt32BE(7); // entry 4 points back up to entry 7: 7 -> 6 -> 5 -> 4 -> 7 ...
    await fh.write(prev, 0, 4, entryAt(4) + 20);
    prev.writeUInt32BE(4); // entry 3 points to itself
    await fh.write(prev, 0, 4, entryAt(3) + 20);
    await fh.close();

    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 8 });
    const found = await reopened.lookup(0, { maxResults: 1000 });
    // Newer files are intact; the corrupt one yields 800..400 and stops at the backward link.
    expect(found).toEqual([...expected(0, 12, 1, 8), 800, 700, 600, 500, 400]);
    await reopened.close();
  });

  it('rebuilds the chains of the writable file on open (torn flush)', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 100 });
    fill(service, 30, 2);
    await service.close();
    const fh = await open(join(dir, indexFileName(100)), 'r+');
    const word = Buffer.alloc(4);
    word.writeUInt32BE(40); // a slot persisted ahead of the header's entry count
    await fh.write(word, 0, 4, INDEX_HEADER_SIZE);
    word.writeUInt32BE(30); // a prev link pointing at a newer entry
    await fh.write(word, 0, 4, INDEX_HEADER_SIZE + SLOTS * 4 + 9 * INDEX_ENTRY_SIZE + 20);
    await fh.close();

    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 100 });
    for (let h = 0; h < 2; h++) expect(await reopened.lookup(h, { maxResults: 100 })).toEqual(expected(h, 30, 2));
    await reopened.close();
  });

  it('serializes concurrent flushes and keeps indexing during them', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 100 });
    const flushes: Promise<void>[] = [];
    for (let round = 0; round < 10; round++) {
      fill(service, 37, 11, round * 37);
      flushes.push(service.flush());
      await new Promise((resolve) => setImmediate(resolve)); // let flush I/O overlap the next adds
    }
    await Promise.all(flushes);
    await service.close();
    const reopened = await IndexService.open(dir, { slotCount: SLOTS, maxEntriesPerFile: 100 });
    for (let h = 0; h < 11; h++) expect(await reopened.lookup(h, { maxResults: 500 })).toEqual(expected(h, 370, 11));
    await reopened.close();
    await expect(reopened.flush()).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });

  it('rejects offsets that go backwards', async () => {
    const service = await IndexService.open(dir, { slotCount: SLOTS });
    service.add(1, 500, 1);
    service.add(2, 500, 1);
    expect(() => service.add(3, 499, 1)).toThrow(expect.objectContaining({ code: 'INDEX_OUT_OF_ORDER' }));
    await service.close();
  });
});
