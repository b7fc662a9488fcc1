import { decodeRecords } from '@litemq/protocol';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppendPipeline } from '../src/append-pipeline.js';
import { CommitLog } from '../src/commit-log.js';
import { FlushService } from '../src/flush-service.js';
import { IndexService } from '../src/index-service.js';
import { QueueRegistry } from '../src/queue-registry.js';
import { SMALL_SEGMENTS, batch, openStore, readAll, record, silentLogger, tempDir } from './helpers.js';

/** A commit log whose fdatasync does not finish until `release()` is called. */
function stalledSync(log: CommitLog): { log: CommitLog; release: () => void; calls: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  const stalled = new Proxy(log, {
    get(target, property, receiver) {
      if (property === 'sync') {
        return async () => {
          calls++;
          await gate;
          return target.sync();
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { log: stalled, release, calls: () => calls };
}

describe('sync flush (group commit)', () => {
  it('acknowledges with PUT_OK once durable and shares fdatasyncs between waiting appends', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { ...SMALL_SEGMENTS, flushMode: 'sync' });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(record('s', `m${i}`, i % 2))));
    expect(results.every((result) => result.status === 'PUT_OK')).toBe(true);
    // Everything acknowledged is already durable.
    expect(store.flushedOffset).toBe(store.maxOffset);
    expect((await store.append(batch('s', 5, 0))).status).toBe('PUT_OK');
    expect(store.flushedOffset).toBe(store.maxOffset);
    await store.close();
    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect((await readAll(reopened, 's', 0)).length).toBe(105);
    expect((await readAll(reopened, 's', 1)).length).toBe(100);
    await reopened.close();
  });

  it('resolves FLUSH_TIMEOUT when fdatasync is late, and PUT_OK again once it catches up', async () => {
    const dir = await tempDir();
    const log = await CommitLog.open(join(dir, 'commitlog'), SMALL_SEGMENTS.segmentBytes);
    const queues = new QueueRegistry(join(dir, 'consumequeue'), 32);
    await queues.load();
    const index = await IndexService.open(join(dir, 'index'), { slotCount: 64, maxEntriesPerFile: 1_000 });
    const stalled = stalledSync(log);
    const flush = new FlushService(stalled.log, 'sync', 500, 200, silentLogger);
    const pipeline = new AppendPipeline(log, queues, index, flush, true, undefined, SMALL_SEGMENTS.maxBodyBytes);

    const late = await Promise.all([pipeline.append(record('f', 'a')), pipeline.append(record('f', 'b'))]);
    expect(late.map((result) => result.status)).toEqual(['FLUSH_TIMEOUT', 'FLUSH_TIMEOUT']);
    // The bytes are written even though they are not confirmed durable.
    expect(late.map((result) => result.queueOffsets[0])).toEqual([0, 1]);
    expect(log.maxOffset).toBeGreaterThan(late[1]!.commitLogOffsets[0]!);
    expect(stalled.calls()).toBe(1);

    stalled.release();
    const onTime = await pipeline.append(record('f', 'c'));
    expect(onTime.status).toBe('PUT_OK');
    expect(onTime.queueOffsets).toEqual([2]);
    expect(flush.flushedOffset).toBe(log.maxOffset);
    await pipeline.idle();
    for (const queue of queues.all()) await queue.drain();
    queues.closeAll();
    await index.close();
    log.close();
  });

  it('flushes on an interval in async mode', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, { ...SMALL_SEGMENTS, flushMode: 'async', flushIntervalMs: 10 });
    await store.append(batch('a', 50));
    const target = store.maxOffset;
    // The background flush has no event: poll the condition (no fixed sleep).
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (store.flushedOffset >= target) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    expect(store.flushedOffset).toBe(target);
    await store.close();
  });
});

describe('write failures', () => {
  it('rolls a failed batch back synchronously so the next batch lands where it belongs', async () => {
    const { closeSync, openSync } = await import('node:fs');
    const dir = await tempDir();
    const store = await openStore(dir, { ...SMALL_SEGMENTS });
    const first = await store.append(batch('w', 10));
    // Swap the active segment's fd for a read-only one so the next write fails with EBADF.
    const log = (store as unknown as { log: { segments: Array<{ fd: number; start: number }> } }).log;
    const active = log.segments.at(-1)!;
    const writable = active.fd;
    const readOnly = openSync(`${dir}/commitlog/${String(active.start).padStart(20, '0')}`, 'r');
    active.fd = readOnly;
    await expect(store.append(batch('w', 5))).rejects.toMatchObject({ code: 'WRITE_FAILED' });
    active.fd = writable;
    closeSync(readOnly);
    const next = await store.append(batch('w', 3, 0, 'n'));
    const lastFirst = first.commitLogOffsets.at(-1)!;
    expect(next.commitLogOffsets[0]).toBeGreaterThan(lastFirst);
    expect(next.queueOffsets).toEqual([10, 11, 12]);
    expect(store.maxOffset).toBe(next.commitLogOffsets[2]! + (next.commitLogOffsets[2]! - next.commitLogOffsets[1]!));
    await store.close();
    // After a restart only the acknowledged records exist: nothing of the rejected batch came back.
    const reopened = await openStore(dir, { ...SMALL_SEGMENTS });
    const bodies = decodeRecords((await reopened.read('w', 0, 0, { maxCount: 100 })).records).map((m) => m.body.toString());
    expect(bodies).toEqual([...Array.from({ length: 10 }, (_, i) => `m${i}`), 'n0', 'n1', 'n2']);
  });
});
