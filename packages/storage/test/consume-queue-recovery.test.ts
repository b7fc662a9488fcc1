import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SMALL_SEGMENTS, batch, readAll, tempDir, waitForQueue, openStore } from './helpers.js';

function bodies(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

describe('consume queue recovery', () => {
  it('rebuilds a deleted consume-queue directory after a clean close', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    for (let i = 0; i < 5; i++) {
      await store.append(batch('lost', 20, 0, `a${i}-`));
      await store.append(batch('lost', 10, 3, `b${i}-`));
      await store.append(batch('kept', 10, 0, `c${i}-`));
    }
    await store.close();
    await rm(join(dir, 'consumequeue', 'lost'), { recursive: true });

    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect(reopened.recovery.rebuiltQueues.sort()).toEqual(['lost/0', 'lost/3']);
    expect(reopened.queueOffsets('lost', 0)).toEqual({ minOffset: 0, maxOffset: 100 });
    expect(reopened.queueOffsets('lost', 3)).toEqual({ minOffset: 0, maxOffset: 50 });
    const lost0 = await readAll(reopened, 'lost', 0);
    expect(lost0.map((m) => m.queueOffset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(lost0.map((m) => m.body.toString())).toEqual([0, 1, 2, 3, 4].flatMap((i) => bodies(`a${i}-`, 20)));
    expect((await readAll(reopened, 'lost', 3)).map((m) => m.body.toString())).toEqual([0, 1, 2, 3, 4].flatMap((i) => bodies(`b${i}-`, 10)));
    expect((await readAll(reopened, 'kept', 0)).length).toBe(50);
    expect((await reopened.append(batch('lost', 1, 0, 'next'))).queueOffsets).toEqual([100]);
    expect((await reopened.append(batch('lost', 1, 3, 'next'))).queueOffsets).toEqual([50]);
    await reopened.close();
  });

  it('rebuilds a deleted consume-queue directory when appends followed the checkpoint', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await store.append(batch('lost', 40, 0, 'x'));
    await store.close();
    const again = await openStore(dir, SMALL_SEGMENTS);
    await again.append(batch('lost', 5, 0, 'y'));
    await again.close();
    await rm(join(dir, 'consumequeue'), { recursive: true });
    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect(reopened.recovery.rebuiltQueues).toEqual(['lost/0']);
    expect((await readAll(reopened, 'lost', 0)).map((m) => m.body.toString())).toEqual([...bodies('x', 40), ...bodies('y', 5)]);
    await reopened.close();
  });

  it('rebuilds a stale consume queue put back from an earlier copy', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await store.append(batch('stale', 40, 1, 'early'));
    await waitForQueue(store, 'stale', 1, 40);
    await store.checkpoint();
    const aside = join(dir, 'aside');
    await cp(join(dir, 'consumequeue', 'stale'), aside, { recursive: true });
    for (let i = 0; i < 4; i++) await store.append(batch('stale', 25, 1, `late${i}-`));
    await store.close();
    await rm(join(dir, 'consumequeue', 'stale'), { recursive: true });
    await cp(aside, join(dir, 'consumequeue', 'stale'), { recursive: true });

    const reopened = await openStore(dir, SMALL_SEGMENTS);
    expect(reopened.recovery.rebuiltQueues).toEqual(['stale/1']);
    const messages = await readAll(reopened, 'stale', 1);
    expect(messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: 140 }, (_, i) => i));
    expect(messages.map((m) => m.body.toString())).toEqual([...bodies('early', 40), ...[0, 1, 2, 3].flatMap((i) => bodies(`late${i}-`, 25))]);
    expect((await reopened.append(batch('stale', 1, 1, 'next'))).queueOffsets).toEqual([140]);
    await reopened.close();
  });

  it('rebuilds a stale consume queue even without a checkpoint', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    await store.append(batch('stale', 40, 0, 'early'));
    await store.checkpoint();
    const aside = join(dir, 'aside');
    await cp(join(dir, 'consumequeue', 'stale'), aside, { recursive: true });
    await store.append(batch('stale', 30, 0, 'late'));
    await store.close();
    await rm(join(dir, 'consumequeue', 'stale'), { recursive: true });
    await cp(aside, join(dir, 'consumequeue', 'stale'), { recursive: true });
    await rm(join(dir, 'checkpoint'));

    const reopened = await openStore(dir, SMALL_SEGMENTS);
    const messages = await readAll(reopened, 'stale', 0);
    expect(messages.map((m) => m.body.toString())).toEqual([...bodies('early', 40), ...bodies('late', 30)]);
    expect((await reopened.append(batch('stale', 1, 0, 'next'))).queueOffsets).toEqual([70]);
    await reopened.close();
  });
});
