/**
 * Delay benchmarks, measured on the TimerStore in-process (the full broker path would spend its time in
 * the send RPC and commit log, not in the timer store):
 *   1. schedule N pending timers (default 10,000,000) spread over 1-300 days: rate, RSS, disk;
 *   2. 50,000 timers due in the same second: when the last is delivered;
 *   3. steady 10,000 fires/s for 5 s: fire lateness p50/p99/max, early count.
 *
 *   npm run bench:delay -- --pending 10000000
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimerStore } from '@litemq/delay';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const MiB = 1024 * 1024;
const out = (line: string) => process.stdout.write(`${line}\n`);
const tick = () => new Promise((resolve) => setImmediate(resolve));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

async function pendingAndRate(pending: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'litemq-bench-delay-'));
  try {
    const store = TimerStore.open(dir);
    store.onDue(() => undefined);
    const id = randomBytes(16);
    const now = Date.now();
    const DAY = 86_400_000;
    const CHUNK = 100_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < pending; i += CHUNK) {
      const end = Math.min(pending, i + CHUNK);
      for (let j = i; j < end; j++) store.schedule(now + DAY + ((j * 7919) % (299 * DAY)), j, 200, id);
      await tick();
    }
    store.checkpoint();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (global.gc) global.gc();
    const stats = store.stats();
    const rss = process.memoryUsage().rss;
    out(`pending timers: ${stats.pending.toLocaleString('en-US')} scheduled in ${seconds.toFixed(1)} s = ${Math.round(pending / seconds).toLocaleString('en-US')} timers/s`);
    out(`  RSS ${(rss / MiB).toFixed(0)} MiB (${(rss / pending).toFixed(1)} B/timer incl. runtime); disk ${(stats.diskBytes / MiB).toFixed(0)} MiB (log ${(stats.logBytes / MiB).toFixed(0)} MiB + wheel ${(stats.wheelBytes / MiB).toFixed(1)} MiB, ${(stats.logBytes / pending).toFixed(0)} B/timer)`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function burst(count: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'litemq-bench-delay-'));
  try {
    const store = TimerStore.open(dir);
    const second = Math.ceil((Date.now() + 2_000) / 1_000) * 1_000;
    let delivered = 0;
    let last = 0;
    let early = 0;
    store.onDue((timers) => {
      const at = Date.now();
      for (const timer of timers) if (at < timer.deliverAt) early++;
      delivered += timers.length;
      last = at;
    });
    for (let i = 0; i < count; i++) store.schedule(second + Math.floor((i * 1_000) / count), i, 200, randomBytes(16));
    while (delivered < count) await new Promise((resolve) => setTimeout(resolve, 20));
    out(`burst: ${count.toLocaleString('en-US')} timers due within one second: last delivered ${last - (second + 1_000)} ms after the end of that second (${last - second} ms after its start), early: ${early}`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function lateness(ratePerSecond: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'litemq-bench-delay-'));
  try {
    const store = TimerStore.open(dir);
    const total = ratePerSecond * seconds;
    const start = Date.now() + 1_500;
    const late: number[] = [];
    let early = 0;
    store.onDue((timers) => {
      const at = Date.now();
      for (const timer of timers) {
        const delta = at - timer.deliverAt;
        if (delta < 0) early++;
        late.push(delta);
      }
    });
    for (let i = 0; i < total; i++) store.schedule(start + (i * 1_000) / ratePerSecond, i, 200, randomBytes(16));
    while (late.length < total) await new Promise((resolve) => setTimeout(resolve, 20));
    late.sort((a, b) => a - b);
    out(`lateness at ${ratePerSecond.toLocaleString('en-US')} fires/s for ${seconds} s: p50 ${percentile(late, 50)} ms, p99 ${percentile(late, 99)} ms, max ${late.at(-1)} ms, early ${early}`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

out(`node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
await burst(arg('burst', 50_000));
await lateness(arg('rate', 10_000), arg('seconds', 5));
await pendingAndRate(arg('pending', 10_000_000));
