import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';

/** One measured figure next to its target, printed as a single greppable line. */
export interface Figure {
  name: string;
  target: string;
  measured: string;
  /** undefined for informational figures that have no target. */
  pass: boolean | undefined;
}

export interface RunPlan {
  warmups: number;
  runs: number;
}

/** The exact command that produced these figures, so anyone can reproduce them. */
export function commandLine(): string {
  const script = relative(process.cwd(), process.argv[1] ?? '');
  const pool = process.env['UV_THREADPOOL_SIZE'] ? `UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE']} ` : '';
  return `${pool}node ${[...process.execArgv, script, ...process.argv.slice(2)].join(' ')}`;
}

export function machineSummary(): string {
  const cores = cpus();
  const gib = (totalmem() / 1024 ** 3).toFixed(1);
  return `${cores.length} x ${cores[0]?.model ?? 'unknown CPU'}, ${gib} GiB RAM, node ${process.version}, ${process.platform}/${process.arch}, UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function header(title: string): void {
  console.log(`== ${title}`);
  console.log(`machine: ${machineSummary()}`);
  console.log(`command: ${commandLine()}`);
  // Other work on a 2-core machine skews every figure: show it rather than hide it.
  console.log(`load average at start: ${loadavg().map((load) => load.toFixed(2)).join(' ')}`);
}

/**
 * Runs `once` warm-up times (discarded: JIT, page cache, file creation paths) then `runs` times,
 * printing every value so a noisy run is visible rather than hidden in the median.
 */
export async function measure(label: string, plan: RunPlan, once: (run: number) => Promise<number>, unit: string, digits = 0): Promise<number> {
  for (let i = 0; i < plan.warmups; i++) await once(-1 - i);
  const values: number[] = [];
  for (let i = 0; i < plan.runs; i++) values.push(await once(i));
  const result = median(values);
  console.log(`  ${label}: runs [${values.map((v) => format(v, digits)).join(', ')}] ${unit}, median ${format(result, digits)} ${unit}`);
  return result;
}

export function format(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function printFigure(figure: Figure): void {
  const verdict = figure.pass === undefined ? 'INFO' : figure.pass ? 'PASS' : 'FAIL';
  console.log(`${verdict.padEnd(4)}  ${figure.name}: ${figure.measured}   (target ${figure.target})`);
}

/** Prints the command again at the end and sets a non-zero exit code when a target was missed. */
export function finish(figures: readonly Figure[]): void {
  console.log(`command: ${commandLine()}`);
  if (figures.some((figure) => figure.pass === false)) process.exitCode = 1;
}

/** A fresh directory under the OS temp dir (same disk as the work tree here), always removed after. */
export async function withTempDir<T>(prefix: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `litemq-bench-${prefix}-`));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Integer option `--name=value` (or `--name value`) from the command line, else `fallback`. */
export function intArg(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let raw: string | undefined;
    if (arg.startsWith(`--${name}=`)) raw = arg.slice(name.length + 3);
    else if (arg === `--${name}`) raw = args[i + 1];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer, got ${raw}`);
    return value;
  }
  return fallback;
}

export function elapsedSeconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/** String option `--name=value` (or `--name value`) from the command line, else `fallback`. */
export function stringArg(name: string, fallback: string | undefined): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
    if (arg === `--${name}`) return args[i + 1];
  }
  return fallback;
}
