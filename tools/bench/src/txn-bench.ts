// Transactions: half + commit throughput (1 KiB), and a check-back load of many pending halves with the
// broker's RSS sampled throughout. The broker runs as its own `litemq standalone` process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Admin, Producer } from '@litemq/client';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, printFigure, withTempDir } from './report.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../apps/server/src/cli.ts');
const transactions = intArg('transactions', 200_000);
const concurrency = intArg('concurrency', 2_048);
const pendingCount = intArg('pending', 100_000);
const bodyBytes = intArg('body-bytes', 1024);
const checkSeconds = intArg('check-seconds', 20);
const producers = intArg('producers', 2);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

async function startServer(dataDir: string, settings: string[]): Promise<{ nameServer: string; pid: number; stop: () => Promise<void> }> {
  // BENCH_BROKER_NODE_ARGS: extra node flags for the broker process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const nodeArgs = (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter((arg) => arg.length > 0);
  const child = spawn(process.execPath, [...nodeArgs, '--conditions=@litemq/source', '--import', 'tsx', CLI, 'standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', dataDir,
    '--log-level', 'warn', '--set', 'broker.autoCreateTopic=true', ...settings.flatMap((s) => ['--set', s])], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    child.once('exit', (code) => reject(new Error(`litemq exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === 'litemq ready') resolveReady(parsed);
      } catch {
        // not a JSON line
      }
    });
  });
  return {
    nameServer: String(ready.nameServer),
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function throughput(nameServer: string): Promise<number> {
  const list = await Promise.all(Array.from({ length: producers }, async () => {
    const producer = new Producer({ nameServers: [nameServer], group: 'bench-txn', sendTimeoutMs: 30_000 });
    await producer.start();
    return producer;
  }));
  const body = Buffer.alloc(bodyBytes, 0x61);
  // Warm-up: routes, connections, JIT.
  await Promise.all(Array.from({ length: 2_000 }, (_, i) => list[i % producers]!.sendInTransaction({ topic: 'bench-txn', body }, () => 'COMMIT')));
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    const producer = list[worker % producers]!;
    while (next < transactions) {
      next++;
      await producer.sendInTransaction({ topic: 'bench-txn', body }, () => 'COMMIT');
    }
  }));
  const rate = transactions / elapsedSeconds(start);
  await Promise.all(list.map((p) => p.close()));
  return rate;
}

async function pendingLoad(nameServer: string, pid: number): Promise<{ baseline: number; afterSend: number; peak: number; checks: number; pending: number }> {
  let checks = 0;
  const producer = new Producer({ nameServers: [nameServer], group: 'bench-pending', sendTimeoutMs: 30_000, transactionChecker: () => {
    checks++;
    return 'UNKNOWN';
  } });
  await producer.start();
  const body = Buffer.alloc(bodyBytes, 0x62);
  await producer.sendInTransaction({ topic: 'bench-pending', body }, () => 'UNKNOWN');
  const baseline = rssMiB(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  let next = 1;
  await Promise.all(Array.from({ length: 512 }, async () => {
    while (next < pendingCount) {
      next++;
      await producer.sendInTransaction({ topic: 'bench-pending', body }, () => 'UNKNOWN');
    }
  }));
  const afterSend = rssMiB(pid);
  const deadline = Date.now() + checkSeconds * 1000;
  while (Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  clearInterval(sampler);
  const admin = new Admin({ nameServers: [nameServer] });
  const { total } = await admin.listPendingTransactions({ limit: 1 });
  await admin.close();
  await producer.close();
  return { baseline, afterSend, peak, checks, pending: total };
}

header('Transactions (@litemq/txn through a litemq standalone process)');
const figures: Figure[] = [];
await withTempDir('litemq-bench-txn-', async (dir) => {
  const server = await startServer(`${dir}/a`, []);
  try {
    const rate = await throughput(server.nameServer);
    figures.push({ name: `half + commit, ${bodyBytes} B, ${concurrency} concurrent, ${producers} producers, ${transactions} transactions`, target: '≥ 20,000 tx/s', measured: `${format(rate)} tx/s`, pass: rate >= 20_000 });
  } finally {
    await server.stop();
  }
  const checked = await startServer(`${dir}/b`, ['broker.transaction.immunityMs=1000', 'broker.transaction.checkIntervalMs=5000', 'broker.transaction.maxChecks=100']);
  try {
    const load = await pendingLoad(checked.nameServer, checked.pid);
    const growth = load.peak - load.baseline;
    figures.push({ name: `${pendingCount} pending halves: check-backs answered UNKNOWN over ${checkSeconds} s`, target: 'info', measured: `${load.checks} checks, ${load.pending} still pending`, pass: undefined });
    figures.push({ name: 'broker RSS: baseline / after sending / peak during checks', target: 'info', measured: `${format(load.baseline)} / ${format(load.afterSend)} / ${format(load.peak)} MiB`, pass: undefined });
    figures.push({ name: `broker RSS growth with ${pendingCount} pending halves under check-backs`, target: '≤ 256 MiB', measured: `${format(growth)} MiB`, pass: growth <= 256 });
  } finally {
    await checked.stop();
  }
});
for (const figure of figures) printFigure(figure);
finish(figures);
