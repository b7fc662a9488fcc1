import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MessageStore } from '@litemq/storage';
import { RequestCode, ResponseCode, expectSuccess } from '@litemq/protocol';
import { readable, waitFor } from './helpers.js';
import { GROUP, pop, send, setup } from './pop-helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Makes the next store read of `topic` wait until `release` is called; `entered` once it waits. */
function gateNextRead(store: MessageStore, topic: string): { entered: () => boolean; release: () => void } {
  const read = store.read.bind(store);
  let armed = true;
  let entered = false;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  vi.spyOn(store, 'read').mockImplementation(async (...args: Parameters<MessageStore['read']>) => {
    if (armed && args[0] === topic) {
      armed = false;
      entered = true;
      await gate;
    }
    return read(...args);
  });
  return { entered: () => entered, release };
}

describe('pop: queues and offsets', () => {
  it('keeps an offset reset or commit made while a pop of the same queue is reading', async () => {
    const { broker, rpc } = await setup({}, 1);
    await send(rpc, broker, 10, 1);
    await readable(broker, 'jobs', 0, 10);
    expect((await pop(rpc, broker, { maxCount: 4, invisibleMs: 30_000 })).messages.length).toBe(4);
    expect(broker.offsets.committed(GROUP, 'jobs', 0)).toBe(4);

    // RESET_OFFSET while the pop reads: the reset wins over the pop's commit.
    let gate = gateNextRead(broker.store, 'jobs');
    let popping = pop(rpc, broker, { maxCount: 3, invisibleMs: 30_000 });
    await waitFor(gate.entered, 5_000, 'the pop to read');
    expectSuccess(await rpc.request(broker.address, RequestCode.RESET_OFFSET, { group: GROUP, topic: 'jobs', target: 'EARLIEST' }));
    gate.release();
    expect((await popping).messages.map((m) => m.body.toString())).toEqual(['m4', 'm5', 'm6']);
    expect(broker.offsets.committed(GROUP, 'jobs', 0)).toBe(0);

    // COMMIT_OFFSET likewise.
    vi.restoreAllMocks();
    gate = gateNextRead(broker.store, 'jobs');
    popping = pop(rpc, broker, { maxCount: 3, invisibleMs: 30_000 });
    await waitFor(gate.entered, 5_000, 'the pop to read');
    expectSuccess(await rpc.request(broker.address, RequestCode.COMMIT_OFFSET, { group: GROUP, offsets: [{ topic: 'jobs', queueId: 0, offset: 8 }] }));
    gate.release();
    expect((await popping).messages.map((m) => m.body.toString())).toEqual(['m0', 'm1', 'm2']);
    expect(broker.offsets.committed(GROUP, 'jobs', 0)).toBe(8);
  });

  it('answers what the other queues gave when one queue fails, and fails only when nothing was popped', async () => {
    const { broker, rpc } = await setup({}, 2);
    await send(rpc, broker, 4, 2);
    await readable(broker, 'jobs', 0, 2);
    await readable(broker, 'jobs', 1, 2);
    const read = broker.store.read.bind(broker.store);
    vi.spyOn(broker.store, 'read').mockImplementation(async (...args: Parameters<typeof read>) => {
      if (args[0] === 'jobs' && args[1] === 1) throw new Error('read failed (test)');
      return read(...args);
    });
    // Queue 1 fails; queue 0's messages are answered (before the fix: the pop failed and they stayed invisible).
    const first = await pop(rpc, broker, { invisibleMs: 30_000 });
    expect(first.messages.map((m) => m.body.toString()).sort()).toEqual(['m0', 'm2']);
    expect(broker.offsets.committed(GROUP, 'jobs', 0)).toBe(2);
    // Nothing else to give: the failure is the answer.
    const failed = await rpc.request(broker.address, RequestCode.POP_MESSAGE, { group: GROUP, subscriptions: [{ topic: 'jobs' }], maxCount: 32, invisibleMs: 30_000 });
    expect(failed.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(String(failed.header.error)).toContain('read failed (test)');
    // Queue 1 lost nothing: once it reads again its messages come.
    vi.restoreAllMocks();
    expect((await pop(rpc, broker, { invisibleMs: 30_000 })).messages.map((m) => m.body.toString()).sort()).toEqual(['m1', 'm3']);
  });
});
