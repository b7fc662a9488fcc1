// Sync-flush (group commit) append throughput with many concurrent appenders, each awaiting durability.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageStore } from '@litemq/storage';
import { RECORD_BYTES, encodeBatch, restampIds } from './records.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, withTempDir } from './report.js';

const records = intArg('records', 262_144);
const batchSize = intArg('batch', 16);
const appenders = intArg('appenders', 64);
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 3) };
const TOPIC = 'bench-sync';
const batches = Math.floor(records / batchSize);

header('storage: sync-flush (group commit) append throughput');
console.log(`records ${format(batches * batchSize)} x ${RECORD_BYTES} B, ${appenders} concurrent appenders, each looping: append a batch of ${batchSize} records, await fdatasync; 4 queues`);

// One buffer per appender (reused once its append is durable); appenders spread over 4 queues.
const pool = Array.from({ length: appenders }, (_, i) => encodeBatch(TOPIC, i % 4, batchSize));
let flushTimeouts = 0;

async function run(root: string, run: number): Promise<number> {
  const dir = join(root, `store-${run}`);
  const store = await MessageStore.open(dir, { flushMode: 'sync' });
  let remaining = batches;
  const appender = async (buf: Buffer): Promise<void> => {
    while (remaining > 0) {
      remaining--;
      restampIds(buf);
      const result = await store.append(buf);
      if (result.status !== 'PUT_OK') flushTimeouts++;
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(pool.map(appender));
  const seconds = elapsedSeconds(started);
  await store.close();
  await rm(dir, { recursive: true });
  return (batches * batchSize) / seconds;
}

await withTempDir('sync', async (root) => {
  console.log(`data dir: ${root}`);
  const rate = await measure('store.append (sync flush)', plan, (i) => run(root, i), 'records/s');
  const figures: Figure[] = [
    { name: `sync append records/s (${appenders} appenders x ${batchSize})`, target: '>= 50,000', measured: `${format(rate)} (${((rate * RECORD_BYTES) / 1024 ** 2).toFixed(0)} MiB/s)`, pass: rate >= 50_000 },
    { name: 'FLUSH_TIMEOUT results', target: '0', measured: String(flushTimeouts), pass: flushTimeouts === 0 },
  ];
  for (const figure of figures) printFigure(figure);
  finish(figures);
});
