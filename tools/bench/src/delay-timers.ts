/**
 * Delay benchmarks, measured on the TimerStore in-process (the full broker path would spend its time in
 * the send RPC and commit log, not in the timer store):
 *   1. schedule N pending timers (default 10,000,000) spread over 1-300 days: rate, RSS, disk;
 *   2. 50,000 timers due in the same second: when the last is delivered;
 *   3. steady 10,000 fires/s for 5 s: fire lateness p50/p99/max, early count. Lateness is measured in the
 *      store's onDue callback (Date.now() when the handler is called − the timer's deliverAt), i.e. the time the
 *      store hands a timer to the broker, not the time the re-published message is readable on its topic.
 *      An independent idle child process ticking every 1 ms records machine-wide stalls (gaps in its own
 *      timer) at the same time, so a tail caused by the machine (other processes on the 2 cores, the VM) is told
 *      apart from one caused by the store.
 *
 *   npm run bench:delay -- --pending 10000000
 *   npm run bench:delay -- --only lateness --seconds 10
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
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

/** Stalls (timer gaps >= 10 ms) seen by an idle child process: [start, end] in epoch ms. */
function stallProbe(): { stop: () => Promise<Array<[number, number]>> } {
  const code = `let last=performance.now();const out=[];const o=performance.timeOrigin;
setInterval(()=>{const n=performance.now();if(n-last>=10)out.push([Math.round(o+last),Math.round(o+n)]);last=n;},1);
process.stdin.on('data',()=>{process.stdout.write(JSON.stringify(out));process.exit(0);});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve(text ? (JSON.parse(text) as Array<[number, number]>) : []));
      child.stdin.write('x');
    }),
  };
}

async function lateness(ratePerSecond: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'litemq-bench-delay-'));
  try {
    const store = TimerStore.open(dir);
    const total = ratePerSecond * seconds;
    const start = Date.now() + 1_500;
    const late: number[] = [];
    const due: number[] = [];
    let early = 0;
    store.onDue((timers) => {
      const at = Date.now();
      for (const timer of timers) {
        const delta = at - timer.deliverAt;
        if (delta < 0) early++;
        late.push(delta);
        due.push(timer.deliverAt);
      }
    });
    const probe = stallProbe();
    const load = loadavg()[0]!;
    for (let i = 0; i < total; i++) store.schedule(start + (i * 1_000) / ratePerSecond, i, 200, randomBytes(16));
    while (late.length < total) await new Promise((resolve) => setTimeout(resolve, 20));
    const stalls = (await probe.stop()).filter(([, end]) => end >= start);
    // Timers whose wait (deliverAt .. handed over) overlaps a stall the idle probe process also saw.
    const clean: number[] = [];
    for (let i = 0; i < late.length; i++) {
      const from = due[i]!;
      const to = from + late[i]!;
      if (!stalls.some(([a, b]) => a <= to && b >= from)) clean.push(late[i]!);
    }
    late.sort((a, b) => a - b);
    clean.sort((a, b) => a - b);
    const longest = stalls.reduce((max, [a, b]) => Math.max(max, b - a), 0);
    out(`lateness at ${ratePerSecond.toLocaleString('en-US')} fires/s for ${seconds} s (store onDue callback; load avg ${load.toFixed(2)}): p50 ${percentile(late, 50)} ms, p99 ${percentile(late, 99)} ms, max ${late.at(-1)} ms, early ${early}`);
    out(`  machine stalls seen by an idle probe process meanwhile: ${stalls.length} (longest ${longest} ms); timers not overlapping one (${clean.length.toLocaleString('en-US')}): p99 ${clean.length ? percentile(clean, 99) : '-'} ms, max ${clean.at(-1) ?? '-'} ms`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
out(`node ${process.version}, ${(await import('node:os')).cpus().length} cores, load avg ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (!only || only === 'burst') await burst(arg('burst', 50_000));
if (!only || only === 'lateness') await lateness(arg('rate', 10_000), arg('seconds', 5));
if (!only || only === 'pending') await pendingAndRate(arg('pending', 10_000_000));
