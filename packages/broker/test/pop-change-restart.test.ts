import { describe, expect, it } from 'vitest';
import { ResponseCode, expectSuccess, parseReceiptHandle } from '@litemq/protocol';
import { client, startBroker, tempDir } from './helpers.js';
import { ack, change, popAll, send, setup } from './pop-helpers.js';

describe('pop: a handle replaced by changeInvisibleDuration', () => {
  it('stays stale across a restart, while the handle that replaced it acknowledges the message', async () => {
    const dataDir = await tempDir();
    const first = await setup({ dataDir }, 1);
    await send(first.rpc, first.broker, 1, 1);
    const popped = await popAll(first.rpc, first.broker, 1, 5_000, { invisibleMs: 10_000 });
    expect(popped.messages.length).toBe(1);
    const old = popped.handles[0]!;
    const replacement = expectSuccess(await change(first.rpc, first.broker, old, 20_000)).header.handle as string;
    await first.broker.close();

    const broker = await startBroker({ dataDir, timer: { precisionMs: 20 } });
    const rpc = client();
    // Before the fix the replacement was remembered in memory only: this ack answered SUCCESS and changed nothing,
    // and the message came back when the replacement's time ended.
    const stale = await ack(rpc, broker, old);
    expect(stale.code).toBe(ResponseCode.RECEIPT_HANDLE_STALE);
    expect((await change(rpc, broker, old, 5_000)).code).toBe(ResponseCode.RECEIPT_HANDLE_STALE);
    expectSuccess(await ack(rpc, broker, replacement));
    expect(broker.delay!.timers.cancelKind(parseReceiptHandle(replacement).checkpointId)).toBe('cancelled');
    expect(broker.pop!.counters.acked).toBe(1);
  });
});
