import { describe, expect, it } from 'vitest';
import { RecordFlag, SystemProperty, TXN_CHECK_IMMUNITY_PROPERTY } from '@litemq/protocol';
import type { HalfInfo } from '../src/index.js';
import { TXN_HALF_TOPIC, TxnError, toCommittedRecord } from '../src/index.js';
import { openTxn, prepared, readAll, tempDir } from './helpers.js';

const META = { producerGroup: 'pg', transactionId: 'tx-1' };

describe('TransactionService', () => {
  it('stores a half invisibly and commits it onto its real topic once, keeping id, keys, tags and properties', async () => {
    const { store, txn } = await openTxn(await tempDir());
    const half = await txn.prepare(prepared({ keys: ['k1', 'k2'], tags: 'tagA', properties: { a: '1' } }), META);
    expect(txn.pendingCount).toBe(1);
    expect(await readAll(store, 'orders', 1)).toEqual([]);
    const [stored] = await readAll(store, TXN_HALF_TOPIC, 0);
    expect(stored!.systemProperties[SystemProperty.ORIGIN_TOPIC]).toBe('orders');

    const outcome = await txn.end(half.halfOffset, 'COMMIT', { msgId: half.msgId });
    expect(outcome).toMatchObject({ outcome: 'COMMIT', applied: true, msgId: half.msgId });
    const again = await txn.end(half.halfOffset, 'ROLLBACK', { msgId: half.msgId });
    expect(again).toMatchObject({ outcome: 'COMMIT', applied: false });
    const messages = await readAll(store, 'orders', 1);
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message).toMatchObject({ msgId: half.msgId, keys: ['k1', 'k2'], tags: 'tagA', properties: { a: '1' }, preparedTxOffset: half.halfOffset });
    expect(message!.flags & RecordFlag.TX_MASK).toBe(RecordFlag.TX_COMMIT);
    expect(message!.body.toString()).toBe('payload');
    expect(txn.pendingCount).toBe(0);
  });

  it('rolls back without a message, and concurrent duplicate commits give exactly one message', async () => {
    const { store, txn } = await openTxn(await tempDir());
    const a = await txn.prepare(prepared(), META);
    await txn.end(a.halfOffset, 'ROLLBACK');
    const b = await txn.prepare(prepared({ body: 'b' }), META);
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => txn.end(b.halfOffset, i % 3 === 0 ? 'ROLLBACK' : 'COMMIT')));
    expect(outcomes.filter((o) => o.applied)).toHaveLength(1);
    const winner = outcomes.find((o) => o.applied)!.outcome;
    expect(outcomes.every((o) => o.outcome === winner)).toBe(true);
    const messages = await readAll(store, 'orders', 1);
    expect(messages.map((m) => m.body.toString())).toEqual(winner === 'COMMIT' ? ['b'] : []);
  });

  it('rejects unknown halves and a wrong message id', async () => {
    const { txn } = await openTxn(await tempDir());
    const half = await txn.prepare(prepared(), META);
    await expect(txn.end(half.halfOffset + 1, 'COMMIT')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_FOUND' });
    await expect(txn.end(half.halfOffset, 'COMMIT', { msgId: '0'.repeat(32) })).rejects.toBeInstanceOf(TxnError);
    expect(txn.pendingCount).toBe(1);
  });

  it('rebuilds pending halves and check counts after a crash, from the queues and from a snapshot', async () => {
    const dir = await tempDir();
    const first = await openTxn(dir, { immunityMs: 0, checkIntervalMs: 1_000 });
    const a = await first.txn.prepare(prepared({ body: 'a' }), META);
    const b = await first.txn.prepare(prepared({ body: 'b' }), META);
    await first.txn.snapshot();
    const c = await first.txn.prepare(prepared({ body: 'c' }), META);
    await first.txn.end(a.halfOffset, 'COMMIT');
    const checked: number[] = [];
    first.txn.setCheckBack(async (_half, info) => {
      checked.push(info.halfOffset);
      return true;
    });
    await first.txn.scan(Date.now() + 10);
    expect(checked.sort()).toEqual([b.halfOffset, c.halfOffset].sort());
    await first.crash();

    const second = await openTxn(dir, { immunityMs: 0, checkIntervalMs: 1_000 });
    expect(second.txn.pendingCount).toBe(2);
    const listed = await second.txn.list();
    expect(listed.transactions.map((t) => [t.halfOffset, t.checks, t.producerGroup, t.topic])).toEqual([
      [b.halfOffset, 1, 'pg', 'orders'],
      [c.halfOffset, 1, 'pg', 'orders'],
    ]);
    expect(await second.txn.end(a.halfOffset, 'COMMIT')).toMatchObject({ outcome: 'COMMIT', applied: false });
    await second.txn.end(b.halfOffset, 'COMMIT');
    await second.txn.close();
    await second.store.close();

    const third = await openTxn(dir);
    expect(third.txn.pendingCount).toBe(1);
    expect((await readAll(third.store, 'orders', 1)).map((m) => m.body.toString())).toEqual(['a', 'b']);
  });

  it('detects a commit whose op was lost in a crash and never writes the message twice', async () => {
    const dir = await tempDir();
    const first = await openTxn(dir);
    const half = await first.txn.prepare(prepared({ body: 'x' }), META);
    // The real message reached the log, the op did not (the crash window of a commit).
    const stored = (await first.store.readRecordAt(half.halfOffset))!;
    await first.store.append(toCommittedRecord(stored));
    await first.crash();

    const second = await openTxn(dir);
    expect(second.txn.pendingCount).toBe(1);
    expect(await second.txn.end(half.halfOffset, 'COMMIT')).toMatchObject({ outcome: 'COMMIT', applied: true });
    expect(second.txn.pendingCount).toBe(0);
    expect((await readAll(second.store, 'orders', 1)).map((m) => m.body.toString())).toEqual(['x']);
  });

  it('checks after the immunity (per message too), then rolls back when checks are exhausted', async () => {
    const { store, txn } = await openTxn(await tempDir(), { immunityMs: 1_000, checkIntervalMs: 100, maxChecks: 2 });
    const infos: HalfInfo[] = [];
    txn.setCheckBack(async (_half, info) => {
      infos.push(info);
      return true;
    });
    const t0 = Date.now();
    const normal = await txn.prepare(prepared(), META);
    const quick = await txn.prepare(prepared({ body: 'quick' }), { ...META, transactionId: 'tx-2' });
    const late = await txn.prepare(prepared({ body: 'late' }, 1, { [TXN_CHECK_IMMUNITY_PROPERTY]: '60000' }), META);
    expect((await txn.scan(t0 + 500)).checked).toBe(0);
    expect((await txn.scan(t0 + 1_500)).checked).toBe(2);
    expect(infos.map((i) => i.transactionId).sort()).toEqual(['tx-1', 'tx-2']);
    await txn.end(quick.halfOffset, 'COMMIT', { source: 'check' });
    expect((await txn.scan(t0 + 1_700)).checked).toBe(1);
    const exhausted = await txn.scan(t0 + 1_900);
    expect(exhausted).toMatchObject({ checked: 0, rolledBack: 1 });
    expect(txn.pendingCount).toBe(1); // only `late`
    expect((await txn.list()).transactions[0]!.halfOffset).toBe(late.halfOffset);
    expect(await txn.end(normal.halfOffset, 'COMMIT')).toMatchObject({ outcome: 'ROLLBACK', applied: false });
    expect((await readAll(store, 'orders', 1)).map((m) => m.body.toString())).toEqual(['quick']);
  });

  it('keeps exhausted halves for an operator under the keep policy, across a restart', async () => {
    const dir = await tempDir();
    const first = await openTxn(dir, { immunityMs: 0, checkIntervalMs: 100, maxChecks: 1, exhaustionPolicy: 'keep' });
    const half = await first.txn.prepare(prepared(), META);
    const t0 = Date.now();
    expect((await first.txn.scan(t0 + 10)).checked).toBe(1);
    expect(await first.txn.scan(t0 + 200)).toMatchObject({ checked: 0, kept: 1, rolledBack: 0 });
    expect((await first.txn.list()).transactions[0]).toMatchObject({ exhausted: true, checks: 1 });
    await first.crash();
    const second = await openTxn(dir, { immunityMs: 0, checkIntervalMs: 100, maxChecks: 1, exhaustionPolicy: 'keep' });
    expect(await second.txn.scan(Date.now() + 10_000)).toMatchObject({ checked: 0, kept: 1 });
    expect(await second.txn.end(half.halfOffset, 'COMMIT', { source: 'operator' })).toMatchObject({ applied: true });
    expect(await readAll(second.store, 'orders', 1)).toHaveLength(1);
  });

  it('keeps 100,000 pending halves in a compact table', async () => {
    const { PendingTable } = await import('../src/index.js');
    const table = new PendingTable();
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100_000; i++) table.add(2 ** 33 + i * 1024, Date.now(), Date.now() + 6000);
    const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    expect(table.size).toBe(100_000);
    expect((after - before) / 100_000).toBeLessThan(200);
    for (let i = 0; i < 100_000; i += 2) table.remove(2 ** 33 + i * 1024);
    expect(table.due(Date.now() + 10_000, 1_000_000)).toHaveLength(50_000);
  });
});
