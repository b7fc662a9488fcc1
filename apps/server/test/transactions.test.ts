import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReceivedMessage, TransactionChecker } from '@litemq/client';
import { Admin, Producer } from '@litemq/client';
import { RecordFlag, RequestCode, RpcClient, decodeRecords, encodeRecord, expectSuccess } from '@litemq/protocol';
import { startCluster } from './cluster-fixture.js';
import { eventually, killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const HALF_PRODUCER = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/txn-half-producer.ts');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

const FAST = ['--set', 'broker.transaction.immunityMs=200', '--set', 'broker.transaction.checkIntervalMs=200'];

async function standalone(settings: string[]): Promise<string> {
  const data = await tempDataDir();
  cleanups.push(data.remove);
  const proc = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true', ...settings]);
  return String((await waitReady(proc)).nameServer);
}

/** A checker deciding by the message's key prefix: commit-*, rollback-*, anything else UNKNOWN. */
const byKey: TransactionChecker = (message: ReceivedMessage) => {
  const key = message.keys[0] ?? '';
  return key.startsWith('commit') ? 'COMMIT' : key.startsWith('rollback') ? 'ROLLBACK' : 'UNKNOWN';
};

async function producer(nameServer: string, group: string, checker?: TransactionChecker): Promise<Producer> {
  const p = new Producer({ nameServers: [nameServer], group, transactionChecker: checker, heartbeatIntervalMs: 200 });
  await p.start();
  cleanups.push(() => p.close());
  return p;
}

async function adminOf(nameServer: string): Promise<Admin> {
  const admin = new Admin({ nameServers: [nameServer] });
  cleanups.push(() => admin.close());
  return admin;
}

/** Every message stored on the topic's queues (bodies), read straight from the brokers. */
async function topicBodies(nameServer: string, topic: string): Promise<string[]> {
  const admin = await adminOf(nameServer);
  const route = await admin.getRoute(topic).catch(() => undefined);
  if (!route) return [];
  const rpc = new RpcClient();
  try {
    const bodies: string[] = [];
    for (const broker of route.brokers) {
      for (const queue of route.queues.filter((q) => q.brokerName === broker.brokerName)) {
        for (let queueId = 0; queueId < queue.readQueueNums; queueId++) {
          const frame = await rpc.request(broker.addrs['0']!, RequestCode.PULL_MESSAGE, { group: 'audit', topic, queueId, offset: 0, maxCount: 1000 });
          if (frame.code !== 0) continue;
          for (const message of decodeRecords(frame.body)) {
            expect(message.flags & RecordFlag.TX_MASK).toBe(RecordFlag.TX_COMMIT);
            bodies.push(message.body.toString());
          }
        }
      }
    }
    return bodies.sort();
  } finally {
    await rpc.close();
  }
}

async function noPending(admin: Admin, what: string): Promise<void> {
  await eventually(async () => ((await admin.listPendingTransactions()).total === 0 ? true : undefined), 20_000, what);
}

describe('transactional messages (real processes)', () => {
  it('commits, rolls back, resolves UNKNOWN by check-backs, exhausts by rollback, and survives a killed producer', async () => {
    const nameServer = await standalone([...FAST, '--set', 'broker.transaction.maxChecks=3']);
    const admin = await adminOf(nameServer);
    const p1 = await producer(nameServer, 'pg', byKey);

    const committed = await p1.beginTransaction();
    await committed.send({ topic: 'orders', body: 'tx-commit', keys: 'x' });
    const rolledBack = await p1.beginTransaction();
    await rolledBack.send({ topic: 'orders', body: 'tx-rollback', keys: 'x' });
    expect(await topicBodies(nameServer, 'orders')).toEqual([]);
    await committed.commit();
    await rolledBack.rollback();

    const local = await p1.sendInTransaction({ topic: 'orders', body: 'local-commit', keys: 'x' }, () => 'COMMIT');
    expect(local.state).toBe('COMMIT');
    await p1.sendInTransaction({ topic: 'orders', body: 'local-rollback', keys: 'x' }, () => 'ROLLBACK');
    await p1.sendInTransaction({ topic: 'orders', body: 'checked-commit', keys: 'commit-1' }, () => 'UNKNOWN');
    await p1.sendInTransaction({ topic: 'orders', body: 'checked-rollback', keys: 'rollback-1' }, () => 'UNKNOWN');
    const unknown = await p1.sendInTransaction({ topic: 'orders', body: 'never-answered', keys: 'unknown-1' }, () => 'UNKNOWN');

    // A producer that dies after its half: another instance of the group answers the checks.
    const child = spawn(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', HALF_PRODUCER, nameServer, 'orders', 'pg-dead', 'orphan'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(async () => {
      child.kill('SIGKILL');
    });
    const line = await new Promise<string>((resolveLine, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolveLine);
      child.once('exit', (code) => reject(new Error(`half producer exited with ${code}`)));
    });
    const orphanId = (JSON.parse(line) as { msgId: string }).msgId;
    child.kill('SIGKILL');
    const pending = await admin.listPendingTransactions({ producerGroup: 'pg-dead' });
    expect(pending.transactions.map((t) => [t.msgId, t.topic, t.producerGroup])).toEqual([[orphanId, 'orders', 'pg-dead']]);
    await producer(nameServer, 'pg-dead', () => 'COMMIT');

    await noPending(admin, 'every transaction resolved');
    expect(await topicBodies(nameServer, 'orders')).toEqual(['checked-commit', 'local-commit', 'orphan', 'tx-commit']);
    // The never-answered one was checked maxChecks times and then rolled back; a late commit changes nothing.
    const late = new RpcClient();
    cleanups.push(() => late.close());
    const route = await admin.getRoute('orders');
    const end = expectSuccess(await late.request(route.brokers[0]!.addrs['0']!, RequestCode.END_TRANSACTION, {
      producerGroup: 'pg', transactionId: unknown.transactionId, halfOffset: unknown.halfOffset, msgId: unknown.msgId, resolution: 'COMMIT', fromCheck: true,
    }));
    expect(end.header).toMatchObject({ outcome: 'ROLLBACK', applied: false });

    // Concurrent duplicate ENDs of one half give one message.
    const record = encodeRecord({ topic: 'orders', body: 'duplicated' }, { flags: RecordFlag.TX_PREPARED });
    const address = route.brokers[0]!.addrs['0']!;
    const half = expectSuccess(await late.request(address, RequestCode.SEND_HALF, { producerGroup: 'pg', transactionId: 'dup' }, record)).header;
    const ends = await Promise.all(Array.from({ length: 16 }, () => late.request(address, RequestCode.END_TRANSACTION, {
      producerGroup: 'pg', transactionId: 'dup', halfOffset: half.halfOffset, msgId: half.msgId, resolution: 'COMMIT',
    })));
    expect(ends.filter((f) => f.code === 0 && f.header.applied === true)).toHaveLength(1);
    expect(await topicBodies(nameServer, 'orders')).toEqual(['checked-commit', 'duplicated', 'local-commit', 'orphan', 'tx-commit']);
  });

  it('batches concurrent halves and ends into shared frames: per-item errors, duplicates in one frame give one message', async () => {
    const nameServer = await standalone(FAST);
    const admin = await adminOf(nameServer);
    const p1 = await producer(nameServer, 'pg-batch', byKey);
    // Concurrent transactions of one producer go out in batched SEND_HALF / END_TRANSACTION frames.
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => p1.sendInTransaction({ topic: 'batched', body: `m-${String(i).padStart(3, '0')}`, keys: 'x' }, () => (i % 3 === 0 ? 'ROLLBACK' : 'COMMIT'))));
    expect(new Set(results.map((r) => r.halfOffset)).size).toBe(300);
    const expected = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => `m-${String(i).padStart(3, '0')}`);
    expect(await topicBodies(nameServer, 'batched')).toEqual(expected);

    // A raw batched SEND_HALF: the record for a system topic fails alone.
    const rpc = new RpcClient();
    cleanups.push(() => rpc.close());
    const address = (await admin.getRoute('batched')).brokers[0]!.addrs['0']!;
    const records = [
      encodeRecord({ topic: 'batched', body: 'raw-1' }, { flags: RecordFlag.TX_PREPARED }),
      encodeRecord({ topic: '%TXN_OP%', body: 'forbidden' }, { flags: RecordFlag.TX_PREPARED, allowSystemTopic: true }),
      encodeRecord({ topic: 'batched', body: 'raw-2' }, { flags: RecordFlag.TX_PREPARED }),
    ];
    const sent = expectSuccess(await rpc.request(address, RequestCode.SEND_HALF, { producerGroup: 'pg-batch', transactionIds: ['a', 'b', 'c'] }, records)).header;
    const offsets = sent.halfOffsets as number[];
    expect(offsets[1]).toBe(-1);
    expect(sent.errors).toMatchObject([{ index: 1, errorCode: 'NO_PERMISSION' }]);
    const msgIds = records.map((r) => decodeRecords(r)[0]!.msgId);
    // One batched END: raw-1 committed twice in the same frame, raw-2 rolled back, an unknown offset fails alone.
    const ended = expectSuccess(await rpc.request(address, RequestCode.END_TRANSACTION, {
      producerGroup: 'pg-batch', halfOffsets: [offsets[0]!, offsets[0]!, offsets[2]!, 1], msgIds: [msgIds[0]!, msgIds[0]!, msgIds[2]!, msgIds[0]!], resolutions: ['COMMIT', 'COMMIT', 'ROLLBACK', 'COMMIT'],
    })).header;
    expect((ended.applied as boolean[]).slice(0, 3).filter(Boolean)).toHaveLength(2);
    expect(ended.outcomes).toEqual(['COMMIT', 'COMMIT', 'ROLLBACK', 'UNKNOWN']);
    expect(ended.errors).toMatchObject([{ index: 3, errorCode: 'TRANSACTION_NOT_FOUND' }]);
    await noPending(admin, 'batched transactions resolved');
    expect(await topicBodies(nameServer, 'batched')).toEqual([...expected, 'raw-1'].sort());
  });

  it('keeps exhausted transactions for an operator, who commits one and rolls one back with the CLI', async () => {
    const nameServer = await standalone([...FAST, '--set', 'broker.transaction.maxChecks=2', '--set', 'broker.transaction.exhaustionPolicy=keep']);
    const admin = await adminOf(nameServer);
    const p = await producer(nameServer, 'pg', () => 'UNKNOWN');
    const a = await p.sendInTransaction({ topic: 'payments', body: 'kept-a' }, () => 'UNKNOWN');
    const b = await p.sendInTransaction({ topic: 'payments', body: 'kept-b' }, () => 'UNKNOWN');
    const listed = await eventually(async () => {
      const { transactions } = await admin.listPendingTransactions();
      return transactions.length === 2 && transactions.every((t) => t.exhausted && t.checks === 2) ? transactions : undefined;
    }, 20_000, 'both transactions exhausted and kept');
    expect(listed.map((t) => t.msgId).sort()).toEqual([a.msgId, b.msgId].sort());

    const list = startLiteMQ(['txn', 'list', '--namesrv', nameServer]);
    expect(await list.exited).toBe(0);
    expect(list.lines.at(-1)).toEqual({ total: 2, shown: 2 });
    const commit = startLiteMQ(['txn', 'commit', a.msgId, '--namesrv', nameServer]);
    expect(await commit.exited).toBe(0);
    expect(commit.lines[0]).toMatchObject({ msgId: a.msgId, outcome: 'COMMIT', applied: true });
    const rollback = startLiteMQ(['txn', 'rollback', b.msgId, '--namesrv', nameServer]);
    expect(await rollback.exited).toBe(0);
    const again = startLiteMQ(['txn', 'commit', b.msgId, '--namesrv', nameServer]);
    expect(await again.exited).toBe(1);
    expect(again.stderr).toContain('TRANSACTION_NOT_FOUND');
    await noPending(admin, 'operator resolutions');
    expect(await topicBodies(nameServer, 'payments')).toEqual(['kept-a']);
  });

  it('keeps a transaction pending across a broker SIGKILL between half and end, then resolves it by check-back', async () => {
    const cluster = await startCluster(1, { brokerSettings: ['broker.autoCreateTopic=true', 'broker.transaction.immunityMs=60000', 'broker.transaction.checkIntervalMs=200'] });
    cleanups.push(() => cluster.cleanup());
    const [broker] = cluster.brokers;
    let answer: 'UNKNOWN' | 'COMMIT' = 'UNKNOWN';
    const p = await producer(cluster.nameServer, 'pg', () => answer);
    const sent = await p.sendInTransaction({ topic: 'ledger', body: 'survivor' }, () => 'UNKNOWN', { checkImmunityMs: 300 });
    const rolled = await p.sendInTransaction({ topic: 'ledger', body: 'gone' }, () => 'UNKNOWN', { checkImmunityMs: 600_000 });
    broker!.process.kill('SIGKILL');
    await broker!.process.exited;

    const restarted = startLiteMQ([
      'broker', '--port', '0', '--data-dir', broker!.dataDir, '--namesrv', cluster.nameServer, '--log-level', 'warn', '--set', `broker.brokerName=${broker!.name}`,
      '--set', 'broker.autoCreateTopic=true', '--set', 'broker.transaction.immunityMs=60000', '--set', 'broker.transaction.checkIntervalMs=200',
    ]);
    cleanups.push(async () => {
      restarted.kill('SIGKILL');
      await restarted.exited;
    });
    await waitReady(restarted);
    const admin = await adminOf(cluster.nameServer);
    const pending = await admin.listPendingTransactions();
    expect(pending.transactions.map((t) => t.msgId).sort()).toEqual([sent.msgId, rolled.msgId].sort());
    answer = 'COMMIT';
    await eventually(async () => ((await admin.listPendingTransactions()).total === 1 ? true : undefined), 20_000, 'the checked transaction committed');
    await admin.rollbackTransaction(rolled.msgId);
    await noPending(admin, 'all resolved after restart');
    expect(await topicBodies(cluster.nameServer, 'ledger')).toEqual(['survivor']);
  });
});
