// Recovery time after an unclean stop (SIGKILL) with `--gib` GiB written since the last checkpoint.
import { fork } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageStore } from '@litemq/storage';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, withTempDir } from './report.js';

const GIB = 1024 ** 3;
const bytes = intArg('gib', 1) * GIB;
const segmentBytes = intArg('segment-mib', 1024) * 1024 ** 2;
const plan = { warmups: intArg('warmups', 0), runs: intArg('runs', 3) };
const reports: string[] = [];

header('storage: recovery after SIGKILL');
console.log(`a child appends ${bytes / GIB} GiB of 1 KiB records (4 queues, async flush, segmentBytes ${segmentBytes / 1024 ** 2} MiB, no checkpoint after open) and is SIGKILLed while still appending; then MessageStore.open is timed (page cache warm: a process crash, not a machine crash)`);

/** Runs the writer child to the target size and kills it mid-append. */
async function writeAndKill(dir: string): Promise<number> {
  // Same loader flags as this process (tsx, source condition), minus profiling of the child.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof'));
  const child = fork(new URL('./storage-recovery-writer.ts', import.meta.url), [dir, String(bytes), String(segmentBytes)], { execArgv });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const written = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { written: number }) => resolve(message.written));
    child.once('exit', (code, signal) => reject(new Error(`writer exited early (${code ?? signal})`)));
  });
  child.kill('SIGKILL');
  await exited;
  await access(join(dir, 'abort')); // the crash left its abort marker behind
  return written;
}

async function run(): Promise<number> {
  return withTempDir('recovery', async (dir) => {
    const writeStarted = process.hrtime.bigint();
    const written = await writeAndKill(dir);
    const writeSeconds = elapsedSeconds(writeStarted);
    const started = process.hrtime.bigint();
    const store = await MessageStore.open(dir, { segmentBytes });
    const seconds = elapsedSeconds(started);
    const { recovery } = store;
    const line = `wrote ${format(written / 1024 ** 2)} MiB in ${writeSeconds.toFixed(1)} s; open took ${seconds.toFixed(2)} s; recovery ${JSON.stringify({ unclean: recovery.unclean, scannedFrom: recovery.scannedFrom, scannedBytes: recovery.scannedBytes, truncatedBytes: recovery.truncatedBytes, rebuiltQueues: recovery.rebuiltQueues.length, durationMs: recovery.durationMs })}`;
    console.log(`  ${line}`);
    reports.push(line);
    if (!recovery.unclean || recovery.scannedBytes < bytes) throw new Error('recovery did not scan the data written since the checkpoint');
    await store.close();
    return seconds;
  });
}

const seconds = await measure('MessageStore.open after SIGKILL', plan, run, 's', 2);
const figures: Figure[] = [
  { name: `recovery time, ${bytes / GIB} GiB since checkpoint`, target: 'seconds (printed)', measured: `${seconds.toFixed(2)} s (${format((bytes / GIB / seconds) * 1024)} MiB/s scanned)`, pass: undefined },
];
for (const figure of figures) printFigure(figure);
finish(figures);
