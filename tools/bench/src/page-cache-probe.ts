// How fast fresh page-cache pages can be written right now: on this VM (DAMON pageout + virtio-balloon free page
// reporting) memory the host has taken back costs a host fault per page on first touch, and a run that lands on such
// memory writes its log several times slower. Printed beside the runs so a slow run can be told from a slow broker.
// The probe's own pages are freed right before the run and are the first the run reuses: 64 MiB of the ~600 MB a
// 500,000-message run writes, so it says how the run starts, not how it ends.
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunPlan } from './report.js';
import { format, measure } from './report.js';

const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

/** MB/s of writing `mib` MiB in 1 MiB writeSync calls to a new file under the OS temp dir (deleted after). */
export function pageCacheWriteRate(mib = 64): number {
  const path = join(tmpdir(), `litemq-bench-probe-${process.pid}-${Date.now()}`);
  const fd = openSync(path, 'w');
  try {
    const started = process.hrtime.bigint();
    for (let i = 0; i < mib; i++) writeSync(fd, CHUNK);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return (mib * 1024 * 1024) / 1e6 / seconds;
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}

/** `measure`, with the probe taken before each timed run (not the warm-ups) and printed after the runs. */
export async function measureWithProbe(label: string, plan: RunPlan, once: () => Promise<number>, unit: string): Promise<number> {
  const probes: number[] = [];
  const result = await measure(
    label,
    plan,
    (run) => {
      if (run >= 0) probes.push(pageCacheWriteRate());
      return once();
    },
    unit,
  );
  console.log(`  page-cache write rate of fresh pages just before each run (64 MiB probe): [${probes.map((mbs) => format(mbs)).join(', ')}] MB/s`);
  return result;
}
