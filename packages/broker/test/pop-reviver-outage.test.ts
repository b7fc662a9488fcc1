import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeRecords, parseReceiptHandle } from '@litemq/protocol';
import { StorageError, StorageErrorCode } from '@litemq/storage';
import type { Broker } from '../src/index.js';
import { POP_REVIVE_TOPIC, parseCheckpoint } from '../src/pop-checkpoint.js';
import { readable, waitFor } from './helpers.js';
import { GROUP, pop, popAll, send, setup } from './pop-helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The message id of the first checkpoint the reviver reads (revive offset 0). */
async function firstRevived(broker: Broker): Promise<string> {
  const result = await broker.store.read(POP_REVIVE_TOPIC, 0, 0, { maxCount: 1 });
  return parseCheckpoint(decodeRecords(result.records)[0]!.body)!.msgId;
}

describe('pop reviver: a long transient failure', () => {
  it('redelivers the checkpoints revived behind the failure once, however long the failure lasts', async () => {
    const { broker, rpc } = await setup({}, 1);
    await send(rpc, broker, 3, 1);
    await readable(broker, 'jobs', 0, 3);
    // The store refuses the retry copy of the first checkpoint read until the outage ends.
    let outage = true;
    let failing: string | undefined;
    const append = broker.store.append.bind(broker.store);
    vi.spyOn(broker.store, 'append').mockImplementation(async (records, ...rest) => {
      const copies = decodeRecords(records);
      if (outage && copies.some((m) => m.topic === `%RETRY%${GROUP}`)) {
        failing ??= await firstRevived(broker);
        if (copies.some((m) => m.msgId === failing)) throw new StorageError(StorageErrorCode.DISK_FULL, 'disk full (test)');
      }
      return append(records, ...rest);
    });
    const popped = await popAll(rpc, broker, 3, 5_000, { invisibleMs: 200 });
    expect(popped.messages.length).toBe(3);
    const reviver = broker.pop!.reviver;
    await waitFor(() => reviver.counters.retried === 2 && reviver.counters.transientFailures > 0, 10_000, 'the checkpoints behind the failing one');
    const timers = broker.delay!.timers;
    const revived = popped.handles.filter((_, i) => popped.messages[i]!.msgId !== failing).map((handle) => parseReceiptHandle(handle).checkpointId);
    expect(revived.length).toBe(2);

    // The outage outlasts the revived checkpoints' tombstones: the timer store processes two minutes meanwhile.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 2 * 60_000);
    await waitFor(() => {
      timers.checkpoint();
      return revived.every((id) => !timers.isCancelled(id));
    }, 10_000, 'the revived tombstones to be dropped');
    // A retry during the outage reads the revived checkpoints again: still not revived twice.
    const failuresBefore = reviver.counters.transientFailures;
    reviver.trigger();
    await waitFor(() => reviver.counters.transientFailures > failuresBefore, 10_000, 'another failed retry');
    outage = false;
    reviver.trigger();

    const again = await popAll(rpc, broker, 3, 10_000, { invisibleMs: 30_000 });
    expect(again.messages.map((m) => m.body.toString()).sort()).toEqual(['m0', 'm1', 'm2']);
    expect((await pop(rpc, broker, { pollMs: 300, invisibleMs: 30_000 })).messages).toEqual([]);
    expect(reviver.counters.retried).toBe(3);
    expect(reviver.reviveOffset).toBe(3);
  });
});
