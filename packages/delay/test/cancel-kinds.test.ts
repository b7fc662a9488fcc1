import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TimerStore } from '../src/index.js';
import { msgId, tempDir } from './helpers.js';

describe('TimerStore cancellation kinds', () => {
  it('keeps whether a timer was cancelled or replaced across a restart, and reads files of older versions as cancelled', async () => {
    const dir = tempDir();
    const legacy = msgId();
    const future = Date.now() + 60_000;
    // A file written before kinds existed: `id time` lines.
    writeFileSync(join(dir, 'cancelled'), `${legacy} ${future}\n`);
    let store = TimerStore.open(dir);
    const replaced = msgId();
    const cancelled = msgId();
    store.cancel(replaced, future, 'replaced');
    store.cancel(cancelled, future);
    expect(store.cancelKind(replaced)).toBe('replaced');
    expect(store.cancelKind(legacy)).toBe('cancelled');
    await store.close();

    store = TimerStore.open(dir);
    expect(store.cancelKind(replaced.toUpperCase())).toBe('replaced');
    expect(store.cancelKind(cancelled)).toBe('cancelled');
    expect(store.cancelKind(legacy)).toBe('cancelled');
    expect(store.cancelKind(msgId())).toBeUndefined();
    expect(store.isCancelled(replaced)).toBe(true);
    await store.close();
  });

  it('records no cancellation in memory that it could not write to disk', async () => {
    const dir = tempDir();
    const store = TimerStore.open(dir);
    const path = join(dir, 'cancelled');
    // The tombstone file cannot be appended to (a directory stands in its place).
    rmSync(path);
    mkdirSync(path);
    const id = msgId();
    expect(() => store.cancel(id, Date.now() + 60_000, 'replaced')).toThrow();
    expect(store.isCancelled(id)).toBe(false);
    expect(store.cancelKind(id)).toBeUndefined();
    rmSync(path, { recursive: true });
    writeFileSync(path, '');
    await store.close();
  });
});
