import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeRecords, encodeRecord } from '@litemq/protocol';
import type { FlushMode, MessageStore } from '../src/index.js';
import { WORKER_QUEUES, WORKER_STORE_OPTIONS, workerBody } from './fixtures/worker-shared.js';
import { openStore, readAll, silentLogger, tempDir, waitForQueue } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/append-worker.ts', import.meta.url));
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Ack {
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  id: number;
}

/**
 * Runs the append worker until it has acknowledged `acks` records, kills it with SIGKILL while its
 * appends are in flight, and returns every acknowledgement it printed before dying.
 */
function runAndKill(dir: string, mode: FlushMode, acks: number, firstId: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', WORKER, dir, mode, String(firstId)], {
      cwd: PACKAGE_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const seen: Ack[] = [];
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [kind, topic, queueId, queueOffset, commitLogOffset, id] = line.split(' ');
      if (kind !== 'ack') return;
      seen.push({ topic: topic!, queueId: Number(queueId), queueOffset: Number(queueOffset), commitLogOffset: Number(commitLogOffset), id: Number(id) });
      if (!killed && seen.length >= acks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    // 'close' comes after the exit and after stdout is drained: every printed ack has been parsed.
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve(seen);
      else reject(new Error(`worker exited early (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

function queueOf(id: number): readonly [string, number] {
  return WORKER_QUEUES[id % WORKER_QUEUES.length]!;
}

/** Every acknowledged record is readable, intact and at its offsets; queues are dense and hold no duplicates. */
async function verify(store: MessageStore, acks: readonly Ack[]): Promise<void> {
  for (const ack of acks) {
    const result = await store.read(ack.topic, ack.queueId, ack.queueOffset, { maxCount: 1 });
    expect(result.status).toBe('FOUND');
    const [message] = decodeRecords(result.records);
    expect(message!.commitLogOffset).toBe(ack.commitLogOffset);
    expect(message!.body.equals(workerBody(ack.id))).toBe(true);
  }
  const ids = new Set<number>();
  const queues = new Map(WORKER_QUEUES.map(([topic, queueId]) => [`${topic}/${queueId}`, [topic, queueId] as const]));
  for (const [topic, queueId] of queues.values()) {
    const messages = await readAll(store, topic, queueId);
    expect(messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: messages.length }, (_, i) => i));
    for (let i = 1; i < messages.length; i++) expect(messages[i]!.commitLogOffset).toBeGreaterThan(messages[i - 1]!.commitLogOffset);
    for (const message of messages) {
      const id = Number(/^id=(\d+);/.exec(message.body.toString('latin1', 0, 24))![1]);
      expect(ids.has(id)).toBe(false);
      ids.add(id);
      expect(queueOf(id)).toEqual([topic, queueId]);
      expect(message.body.equals(workerBody(id))).toBe(true);
    }
    const acked = acks.filter((ack) => ack.topic === topic && ack.queueId === queueId);
    expect(messages.length).toBeGreaterThan(Math.max(-1, ...acked.map((ack) => ack.queueOffset)));
  }
}

/** New appends take the next queue offset and land at the end of the recovered log. */
async function expectAppendsContinue(store: MessageStore): Promise<void> {
  const logEnd = store.maxOffset;
  for (const [topic, queueId] of WORKER_QUEUES.slice(0, 3)) {
    const next = store.queueOffsets(topic, queueId)!.maxOffset;
    const result = await store.append(encodeRecord({ topic, body: 'after the crash' }, { queueId }));
    expect(result.queueOffsets).toEqual([next]);
    expect(result.commitLogOffsets[0]).toBeGreaterThanOrEqual(logEnd);
    await waitForQueue(store, topic, queueId, next + 1);
  }
}

const OPTIONS = { ...WORKER_STORE_OPTIONS, logger: silentLogger };

describe('kill -9 in the middle of appending', () => {
  for (const [mode, acks] of [['async', 3_000], ['sync', 400]] as const) {
    it(`keeps every acknowledged record (${mode} flush)`, async () => {
      const dir = await tempDir();
      const acked = await runAndKill(dir, mode, acks, 0);
      expect(acked.length).toBeGreaterThanOrEqual(acks);
      const store = await openStore(dir, OPTIONS);
      expect(store.recovery.unclean).toBe(true);
      expect(store.maxOffset).toBeGreaterThan(Math.max(...acked.map((ack) => ack.commitLogOffset)));
      await verify(store, acked);
      await expectAppendsContinue(store);
      await store.close();
    });
  }

  it('recovers again after a second kill, with offsets continuing across both', async () => {
    const dir = await tempDir();
    const first = await runAndKill(dir, 'async', 1_500, 0);
    const second = await runAndKill(dir, 'async', 1_500, 1_000_000);
    expect(Math.min(...second.map((ack) => ack.commitLogOffset))).toBeGreaterThan(Math.max(...first.map((ack) => ack.commitLogOffset)));
    const store = await openStore(dir, OPTIONS);
    await verify(store, [...first, ...second]);
    await expectAppendsContinue(store);
    await store.close();
  });
});
