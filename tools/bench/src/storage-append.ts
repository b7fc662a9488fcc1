// Async-flush append throughput of @litemq/storage against a plain sequential write loop of the same bytes.
import { closeSync, openSync, unlinkSync, write, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageStore } from '@litemq/storage';
import { RECORD_BYTES, encodeBatch, restampIds } from './records.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, withTempDir } from './report.js';

const records = intArg('records', 524_288);
const batchSize = intArg('batch', 32);
const appenders = intArg('appenders', 1);
const flushIntervalMs = intArg('flush-interval-ms', 500);
const checkpointIntervalMs = intArg('checkpoint-interval-ms', 1000);
// --baseline 0 skips the plain-write loops (e.g. to profile the store alone).
const withBaseline = intArg('baseline', 1) === 1;
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 5) };
const TOPIC = 'bench-append';
const batches = Math.floor(records / batchSize);

header('storage: async-flush append throughput');
console.log(`records ${format(batches * batchSize)} x ${RECORD_BYTES} B, batch ${batchSize} records (${batchSize * RECORD_BYTES} B) per append, ${appenders} appender(s) each awaiting its append, flushMode async (fdatasync every ${flushIntervalMs} ms, checkpoint every ${checkpointIntervalMs} ms), queue 0`);

// One buffer per appender, reused after its append resolved (see restampIds).
const pool = Array.from({ length: appenders }, () => encodeBatch(TOPIC, 0, batchSize));

async function storeRun(root: string, run: number): Promise<number> {
  const dir = join(root, `store-${run}`);
  const store = await MessageStore.open(dir, { flushMode: 'async', flushIntervalMs, checkpointIntervalMs });
  let remaining = batches;
  const appender = async (buf: Buffer): Promise<void> => {
    while (remaining > 0) {
      remaining--;
      restampIds(buf);
      await store.append(buf);
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(pool.map(appender));
  const seconds = elapsedSeconds(started);
  await store.close();
  await rm(dir, { recursive: true }); // like the baselines: no earlier run's files linger
  return (batches * batchSize) / seconds;
}

/** Baseline: the same bytes in the same chunk size, sequentially appended to a fresh file in the same directory. */
function writeSyncRun(root: string, run: number): number {
  const path = join(root, `baseline-sync-${run}.dat`);
  const fd = openSync(path, 'w');
  const buf = pool[0]!;
  const started = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) {
    restampIds(buf);
    writeSync(fd, buf, 0, buf.length);
  }
  const seconds = elapsedSeconds(started);
  closeSync(fd);
  unlinkSync(path); // dropping the file discards its dirty pages: no writeback leaks into the next run
  return (batches * batchSize) / seconds;
}

function writeAsync(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => write(fd, buf, 0, buf.length, null, (error) => (error ? reject(error) : resolve())));
}

async function writeAsyncRun(root: string, run: number): Promise<number> {
  const path = join(root, `baseline-async-${run}.dat`);
  const fd = openSync(path, 'w');
  const buf = pool[0]!;
  const started = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) {
    restampIds(buf);
    await writeAsync(fd, buf);
  }
  const seconds = elapsedSeconds(started);
  closeSync(fd);
  unlinkSync(path);
  return (batches * batchSize) / seconds;
}

await withTempDir('append', async (root) => {
  console.log(`data dir: ${root}`);
  const store = await measure('store.append (async flush)', plan, (run) => storeRun(root, run), 'records/s');
  const syncLoop = withBaseline ? await measure('baseline fs.writeSync loop', plan, (run) => Promise.resolve(writeSyncRun(root, run)), 'records/s') : Number.NaN;
  const asyncLoop = withBaseline ? await measure('baseline fs.write (awaited) loop', plan, (run) => writeAsyncRun(root, run), 'records/s') : Number.NaN;
  const mib = (rate: number) => ((rate * RECORD_BYTES) / 1024 ** 2).toFixed(0);
  const figures: Figure[] = [
    { name: 'async append records/s', target: '>= 300,000', measured: `${format(store)} (${mib(store)} MiB/s)`, pass: store >= 300_000 },
    { name: 'store / fs.write loop', target: '>= 0.50', measured: `${(store / asyncLoop).toFixed(2)} (fs.write loop ${format(asyncLoop)} records/s, ${mib(asyncLoop)} MiB/s)`, pass: store / asyncLoop >= 0.5 },
    { name: 'store / fs.writeSync loop', target: 'info (>= 0.50 would be the stricter reading)', measured: `${(store / syncLoop).toFixed(2)} (fs.writeSync loop ${format(syncLoop)} records/s, ${mib(syncLoop)} MiB/s)`, pass: undefined },
  ];
  for (const figure of figures) printFigure(figure);
  finish(figures);
});
