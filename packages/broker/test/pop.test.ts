import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DlqListResponseHeader } from '@litemq/protocol';
import { randomBytes } from 'node:crypto';
import {
  RecordField, RequestCode, ResponseCode, SystemProperty, concatRecords, deadLetterTopicOf, decodeRecords, expectSuccess, parseReceiptHandle, readMessageId,
  readU64,
} from '@litemq/protocol';
import { StorageError, StorageErrorCode } from '@litemq/storage';
import { encodeCheckpoint } from '../src/pop-checkpoint.js';
import { client, record, startBroker, tempDir, waitFor } from './helpers.js';
import { GROUP, ack, change, pop, popAll, send, setup } from './pop-helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('pop consumption', () => {
  it('never gives one message to two concurrent pops, redelivers what is not acknowledged, and not what is', async () => {
    const { broker, rpc } = await setup();
    const other = client();
    const bodies = await send(rpc, broker, 20);
    await waitFor(() => (broker.store.queueOffsets('jobs', 1)?.maxOffset ?? 0) === 10, 5_000, 'messages readable');

    // Concurrent pops on separate connections: every message to exactly one of them.
    const results = await Promise.all([pop(rpc, broker, { maxCount: 7 }), pop(other, broker, { maxCount: 7 }), pop(rpc, broker, { maxCount: 7 }), pop(other, broker, { maxCount: 7 })]);
    const all = results.flatMap((result) => result.messages);
    expect(all.length).toBe(20);
    expect(new Set(all.map((m) => m.body.toString()))).toEqual(new Set(bodies));
    expect(all.every((m) => m.reconsumeTimes === 0 && m.topic === 'jobs')).toBe(true);
    // Nothing visible now: a pop answers at once, empty.
    expect((await pop(rpc, broker)).messages).toEqual([]);

    const handles = results.flatMap((result) => result.handles);
    const handle = parseReceiptHandle(handles[0]);
    expect(handle.brokerName).toBe('broker-a');
    expect(handle.invisibleUntil).toBeGreaterThan(Date.now());
    // Acknowledge the even bodies (twice for one of them: harmless).
    const acked = new Set<string>();
    for (let i = 0; i < all.length; i++) {
      if (Number(all[i]!.body.toString().slice(1)) % 2 !== 0) continue;
      expectSuccess(await ack(rpc, broker, handles[i]!));
      acked.add(all[i]!.body.toString());
    }
    expect(expectSuccess(await ack(rpc, broker, handles[0]!)).code).toBe(ResponseCode.SUCCESS);

    // The odd ones come back once their invisible time ends: from %RETRY%<group>, reconsumeTimes 1, same ids.
    const again = await popAll(rpc, broker, 10, 10_000);
    expect(again.messages.map((m) => m.body.toString()).sort()).toEqual(bodies.filter((b) => !acked.has(b)).sort());
    for (const message of again.messages) {
      expect(message.topic).toBe(`%RETRY%${GROUP}`);
      expect(message.systemProperties[SystemProperty.RETRY_TOPIC]).toBe('jobs');
      expect(message.reconsumeTimes).toBe(1);
      expect(message.msgId).toBe(all.find((m) => m.body.equals(message.body))!.msgId);
      expect(message.systemProperties[SystemProperty.FAILURE_REASON]).toBe('not acknowledged within its invisible time (1000 ms)');
    }
    // The expired handles of the first delivery answer RECEIPT_HANDLE_EXPIRED.
    const oddIndex = all.findIndex((m) => !acked.has(m.body.toString()));
    const expired = await ack(rpc, broker, handles[oddIndex]!);
    expect(expired.code).toBe(ResponseCode.RECEIPT_HANDLE_EXPIRED);
    expect(expired.header.errorCode).toBe('RECEIPT_HANDLE_EXPIRED');

    for (const h of again.handles) expectSuccess(await ack(rpc, broker, h));
    // Acknowledged everything: nothing comes back within two invisible times.
    expect((await pop(rpc, broker, { pollMs: 2_300 })).messages).toEqual([]);
    expect(broker.pop!.reviver.counters).toMatchObject({ retried: 10, deadLettered: 0 });
    expect(broker.pop!.counters).toMatchObject({ popped: 30, acked: 20 });
  });

  it('serialises concurrent pops of one queue: no message is popped twice', async () => {
    const { broker, rpc } = await setup({}, 1);
    const bodies = await send(rpc, broker, 60, 1);
    await waitFor(() => (broker.store.queueOffsets('jobs', 0)?.maxOffset ?? 0) === 60, 5_000, 'messages readable');
    const clients = [rpc, client(), client(), client()];
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => pop(clients[i % clients.length]!, broker, { maxCount: 5, invisibleMs: 30_000 })));
    const received = results.flatMap((result) => result.messages.map((m) => m.body.toString()));
    expect(received.length).toBe(60);
    expect(new Set(received)).toEqual(new Set(bodies));
    expect(broker.offsets.committed(GROUP, 'jobs', 0)).toBe(60);
  });

  it('changeInvisibleDuration extends the invisibility and replaces the handle', async () => {
    const { broker, rpc } = await setup();
    await send(rpc, broker, 2);
    await waitFor(() => (broker.store.queueOffsets('jobs', 1)?.maxOffset ?? 0) === 1, 5_000, 'messages readable');
    const first = await pop(rpc, broker, { maxCount: 2, invisibleMs: 1_000 });
    expect(first.messages.length).toBe(2);
    const [extended, acked] = first.messages[0]!.body.toString() === 'm0' ? [0, 1] : [1, 0];

    const changedAt = Date.now();
    const reply = expectSuccess(await change(rpc, broker, first.handles[extended]!, 3_000));
    const newHandle = reply.header.handle as string;
    expect(newHandle).not.toBe(first.handles[extended]);
    expect(reply.header.invisibleUntil).toBeGreaterThanOrEqual(changedAt + 3_000);
    expect(parseReceiptHandle(newHandle).invisibleUntil).toBe(reply.header.invisibleUntil);
    // Change then ack the other one: the ack with the new handle stops it.
    const other = expectSuccess(await change(rpc, broker, first.handles[acked]!, 1_500));
    expectSuccess(await ack(rpc, broker, other.header.handle as string));
    // The replaced handles answer RECEIPT_HANDLE_STALE.
    expect((await ack(rpc, broker, first.handles[extended]!)).code).toBe(ResponseCode.RECEIPT_HANDLE_STALE);
    expect((await change(rpc, broker, first.handles[acked]!, 1_000)).code).toBe(ResponseCode.RECEIPT_HANDLE_STALE);
    // Changing an acknowledged message is refused (it would come back).
    expect((await change(rpc, broker, other.header.handle as string, 1_000)).code).toBe(ResponseCode.RECEIPT_HANDLE_STALE);

    // Not redelivered at its first deadline (1 s): only after the new one (3 s).
    const early = await pop(rpc, broker, { pollMs: 2_000 });
    expect(early.messages).toEqual([]);
    const late = await popAll(rpc, broker, 1, 5_000);
    const receivedAt = Date.now();
    expect(late.messages.map((m) => m.body.toString())).toEqual([first.messages[extended]!.body.toString()]);
    expect(late.messages[0]!.reconsumeTimes).toBe(1);
    expect(receivedAt).toBeGreaterThanOrEqual(reply.header.invisibleUntil as number);
    // The acknowledged one never came back.
    expect((await pop(rpc, broker, { pollMs: 500 })).messages).toEqual([]);
    expect(broker.pop!.counters.changed).toBe(2);
  });

  it('dead-letters a message after maxReconsumeTimes expired pops', async () => {
    const { broker, rpc } = await setup();
    await send(rpc, broker, 1, 2, 'poison');
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const popped = await popAll(rpc, broker, 1, 5_000, { invisibleMs: 200, maxReconsumeTimes: 2 });
      expect(popped.messages.length).toBe(1);
      attempts.push(popped.messages[0]!.reconsumeTimes);
    }
    expect(attempts).toEqual([0, 1, 2]);
    const list = await (async () => {
      let found: DlqListResponseHeader | undefined;
      await waitFor(async () => {
        found = expectSuccess(await rpc.request(broker.address, RequestCode.DLQ_LIST, { group: GROUP })).header as unknown as DlqListResponseHeader;
        return found.total === 1;
      }, 5_000, 'the dead letter');
      return found!;
    })();
    expect(list.messages[0]).toMatchObject({ originTopic: 'jobs', attempts: 3, lastError: 'not acknowledged within its invisible time (200 ms)' });
    expect(list.messages[0]!.history.length).toBe(3);
    // Nothing more to pop.
    expect((await pop(rpc, broker, { pollMs: 500 })).messages).toEqual([]);
  });

  it('filters by exact tag and by SQL on the broker, moving past what does not match', async () => {
    const { broker, rpc } = await setup({}, 1);
    const body = Buffer.concat([
      record('jobs', 'a1', 0, { tags: 'A', properties: { region: 'eu', amount: '5' } }),
      record('jobs', 'b1', 0, { tags: 'B', properties: { region: 'eu', amount: '50' } }),
      record('jobs', 'a2', 0, { tags: 'A', properties: { region: 'us', amount: '500' } }),
      record('jobs', 'n1', 0, { properties: { region: 'eu', amount: '500' } }),
    ]);
    expectSuccess(await rpc.request(broker.address, RequestCode.SEND_BATCH, {}, body));
    await waitFor(() => (broker.store.queueOffsets('jobs', 0)?.maxOffset ?? 0) === 4, 5_000, 'messages readable');
    const tagged = await pop(rpc, broker, { group: 'g-tags', subscriptions: [{ topic: 'jobs', tags: ['A'] }] });
    expect(tagged.messages.map((m) => m.body.toString())).toEqual(['a1', 'a2']);
    const sql = await pop(rpc, broker, { group: 'g-sql', subscriptions: [{ topic: 'jobs', sql: "region = 'eu' AND amount > 10" }] });
    expect(sql.messages.map((m) => m.body.toString())).toEqual(['b1', 'n1']);
    // Offsets moved past every read message, matched or not.
    expect(broker.offsets.committed('g-tags', 'jobs', 0)).toBe(4);
    expect(broker.offsets.committed('g-sql', 'jobs', 0)).toBe(4);
    const bad = await rpc.request(broker.address, RequestCode.POP_MESSAGE, { group: 'g', subscriptions: [{ topic: 'jobs', sql: 'region = ' }], maxCount: 1, invisibleMs: 1_000 });
    expect(bad.code).toBe(ResponseCode.INVALID_REQUEST);
    expect(bad.header.errorCode).toBe('FILTER_EXPRESSION_INVALID');
  });

  it('holds an empty pop until a message arrives (long polling), and starts a new group at the end by default', async () => {
    const { broker, rpc } = await setup();
    await send(rpc, broker, 3, 2, 'old');
    await waitFor(() => (broker.store.queueOffsets('jobs', 0)?.maxOffset ?? 0) === 2, 5_000, 'messages readable');
    const startedAt = Date.now();
    const held = pop(rpc, broker, { fromWhere: 'LAST_OFFSET', pollMs: 8_000 });
    await waitFor(() => broker.pop!.waiters.size === 1, 5_000, 'the pop to be held');
    await send(client(), broker, 1, 2, 'new');
    const popped = await held;
    expect(popped.messages.map((m) => m.body.toString())).toEqual(['new0']);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(broker.pop!.waiters.size).toBe(0);
  });

  it('answers held pops at shutdown, empty', async () => {
    const { broker, rpc } = await setup();
    const held = rpc.request(broker.address, RequestCode.POP_MESSAGE, { group: GROUP, subscriptions: [{ topic: 'jobs' }], maxCount: 1, invisibleMs: 1_000, pollMs: 10_000 }, undefined, { timeoutMs: 15_000 });
    await waitFor(() => broker.pop!.waiters.size === 1, 5_000, 'the pop to be held');
    const startedAt = Date.now();
    await broker.close();
    const reply = await held;
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect(reply.header.count).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(3_000);
  });

  it('rejects receipt handles that are malformed, of another group or another broker', async () => {
    const { broker, rpc } = await setup();
    await send(rpc, broker, 1);
    const popped = await popAll(rpc, broker, 1, 5_000);
    const handle = popped.handles[0]!;
    for (const [bad, group] of [
      ['nonsense', GROUP],
      [handle, 'other-group'],
      [handle.replace('broker-a', 'broker-b'), GROUP],
      [handle.replace(/:(\d+):/, (_, offset: string) => `:${Number(offset) + 1}:`), GROUP],
    ] as const) {
      const reply = await ack(rpc, broker, bad, group);
      expect(reply.code, bad).toBe(ResponseCode.INVALID_REQUEST);
      expect(reply.header.errorCode).toBe('RECEIPT_HANDLE_INVALID');
    }
    const tooShort = await change(rpc, broker, handle, 1);
    expect(tooShort.code).toBe(ResponseCode.INVALID_REQUEST);
    const noTopic = await rpc.request(broker.address, RequestCode.POP_MESSAGE, { group: GROUP, subscriptions: [{ topic: 'missing' }], maxCount: 1, invisibleMs: 1_000 });
    expect(noTopic.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    const badInvisible = await rpc.request(broker.address, RequestCode.POP_MESSAGE, { group: GROUP, subscriptions: [{ topic: 'jobs' }], maxCount: 1, invisibleMs: 5 });
    expect(badInvisible.code).toBe(ResponseCode.INVALID_REQUEST);
    expectSuccess(await ack(rpc, broker, handle));
  });

  it('keeps in-flight pops across a restart: unacknowledged ones come back, acknowledged ones do not', async () => {
    const dataDir = await tempDir();
    const first = await setup({ dataDir });
    await send(first.rpc, first.broker, 4);
    const popped = await popAll(first.rpc, first.broker, 4, 5_000, { invisibleMs: 1_500 });
    expect(popped.messages.length).toBe(4);
    expectSuccess(await ack(first.rpc, first.broker, popped.handles[0]!));
    await first.broker.close();

    const broker = await startBroker({ dataDir, timer: { precisionMs: 20 } });
    const rpc = client();
    const again = await popAll(rpc, broker, 3, 8_000, { invisibleMs: 10_000 });
    expect(again.messages.map((m) => m.body.toString()).sort()).toEqual(popped.messages.slice(1).map((m) => m.body.toString()).sort());
    expect(again.messages.every((m) => m.reconsumeTimes === 1)).toBe(true);
    // The acknowledged one stays acknowledged.
    expect((await pop(rpc, broker, { pollMs: 1_000 })).messages).toEqual([]);
    for (const h of again.handles) expectSuccess(await ack(rpc, broker, h));
    await broker.close();
    // The revive offset was saved: a third start redelivers nothing.
    const third = await startBroker({ dataDir, timer: { precisionMs: 20 } });
    expect(third.pop!.reviver.reviveOffset).toBe(3);
    expect((await pop(client(), third, { pollMs: 2_000 })).messages).toEqual([]);
  });

  it('drops (or dead-letters) a checkpoint that cannot be redelivered without holding up the redeliveries behind it', async () => {
    const { broker, rpc } = await setup({}, 1);
    const bodies = await send(rpc, broker, 20, 1);
    await waitFor(() => (broker.store.queueOffsets('jobs', 0)?.maxOffset ?? 0) === 20, 5_000, 'messages readable');
    // Checkpoints of groups whose retry topic cannot exist (as written before consumer group names were checked):
    // '%RETRY%' + 121 characters is too long (its '%DLQ%' topic is not), + 127 both are, '%X%y' is no user name.
    const stored = await broker.store.read('jobs', 0, 0, { maxCount: 1 });
    expect(stored.status).toBe('FOUND');
    const target = { commitLogOffset: readU64(stored.records, RecordField.COMMIT_LOG_OFFSET), msgId: readMessageId(stored.records, RecordField.MSG_ID) };
    const dlqOnly = 'g'.repeat(121);
    const bad = [dlqOnly, 'g'.repeat(127), '%X%y'].map((group) => encodeCheckpoint(
      { group, topic: 'jobs', queueId: 0, queueOffset: 0, ...target, maxReconsumeTimes: undefined, invisibleMs: 100 }, randomBytes(16), Date.now(),
    ));
    await broker.store.append(concatRecords(bad));
    await waitFor(() => broker.pop!.reviver.reviveOffset === 3, 5_000, 'the bad checkpoints to be processed');
    expect(broker.pop!.reviver.counters).toMatchObject({ deadLettered: 1, failed: 2, transientFailures: 0 });
    expect(broker.store.queueOffsets(deadLetterTopicOf(dlqOnly), 0)?.maxOffset).toBe(1);

    // Every checkpoint after them is redelivered.
    expect((await popAll(rpc, broker, 20, 5_000, { invisibleMs: 200 })).messages.length).toBe(20);
    const again = await popAll(rpc, broker, 20, 10_000, { invisibleMs: 30_000 });
    expect(again.messages.map((m) => m.body.toString()).sort()).toEqual([...bodies].sort());
    expect(broker.pop!.reviver.counters).toMatchObject({ retried: 20, failed: 2 });
    expect(broker.pop!.reviver.reviveOffset).toBe(23);
  });

  it('retries a checkpoint whose redelivery failed transiently, with backoff, redelivering each message once', async () => {
    const { broker, rpc } = await setup({}, 1);
    await send(rpc, broker, 3, 1);
    await waitFor(() => (broker.store.queueOffsets('jobs', 0)?.maxOffset ?? 0) === 3, 5_000, 'messages readable');
    // The store refuses the retry copy of m1 twice (disk full), then recovers.
    let refused = 0;
    const append = broker.store.append.bind(broker.store);
    vi.spyOn(broker.store, 'append').mockImplementation(async (records, ...rest) => {
      const copy = decodeRecords(records);
      if (refused < 2 && copy.some((m) => m.topic === `%RETRY%${GROUP}` && m.body.toString() === 'm1')) {
        refused++;
        throw new StorageError(StorageErrorCode.DISK_FULL, 'disk full (test)');
      }
      return append(records, ...rest);
    });
    expect((await popAll(rpc, broker, 3, 5_000, { invisibleMs: 200 })).messages.length).toBe(3);
    const again = await popAll(rpc, broker, 3, 10_000, { invisibleMs: 30_000 });
    expect(again.messages.map((m) => m.body.toString()).sort()).toEqual(['m0', 'm1', 'm2']);
    expect(refused).toBe(2);
    expect(broker.pop!.reviver.counters).toMatchObject({ retried: 3, failed: 0, transientFailures: 2 });
    // Nothing twice: the checkpoints revived around the failure were not revived again.
    expect((await pop(rpc, broker, { pollMs: 500 })).messages).toEqual([]);
    expect(broker.pop!.reviver.reviveOffset).toBe(3);
  });

  it('keeps an acknowledged pop acknowledged across a downtime far past its invisible time', async () => {
    const dataDir = await tempDir();
    const first = await setup({ dataDir }, 1);
    await send(first.rpc, first.broker, 2, 1);
    const popped = await popAll(first.rpc, first.broker, 2, 5_000, { invisibleMs: 1_000 });
    expect(popped.messages.length).toBe(2);
    const acked = popped.messages[0]!.body.toString();
    expectSuccess(await ack(first.rpc, first.broker, popped.handles[0]!));
    await first.broker.close();

    // The broker stays down for ten minutes: Date.now() runs ahead instead of the test waiting.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 10 * 60_000);
    const broker = await startBroker({ dataDir, timer: { precisionMs: 20 } });
    const rpc = client();
    // Only the unacknowledged one comes back; the overdue acknowledged checkpoint fires cancelled.
    const again = await popAll(rpc, broker, 1, 5_000, { invisibleMs: 10_000 });
    expect(again.messages.map((m) => m.body.toString())).toEqual([popped.messages[1]!.body.toString()]);
    expect((await pop(rpc, broker, { pollMs: 500 })).messages).toEqual([]);
    expect(again.messages.map((m) => m.body.toString())).not.toContain(acked);
    expect(broker.pop!.reviver.counters).toMatchObject({ retried: 1 });
  });
});
