import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DueTimer, TimerStoreStats } from '../src/index.js';
import { TimerStore } from '../src/index.js';
import { RECLAIM_OPTIONS, timerId } from './fixtures/reclaim-options.js';
import { tempDir, until } from './helpers.js';

const SEGMENT = RECLAIM_OPTIONS.logSegmentBytes!;

function segmentFiles(dir: string): number {
  return readdirSync(join(dir, 'timerlog')).filter((name) => /^\d{20}$/.test(name)).length;
}

describe('timer log segments', () => {
  it('keeps the disk bounded over a long run of fired timers, and keeps what pending (rolled) timers need', async () => {
    const dir = tempDir();
    const store = TimerStore.open(dir, RECLAIM_OPTIONS);
    const fired = new Map<string, DueTimer>();
    let early = 0;
    store.onDue((due) => {
      const at = Date.now();
      for (const timer of due) {
        if (at < timer.deliverAt) early++;
        fired.set(timer.msgId, timer);
      }
    });
    // Beyond the 500 ms wheel: rolled forward about a dozen times while the segments around them are deleted. A
    // pending entry keeps its segment (and the later ones) for at most one wheel span, until it fires or rolls.
    const longAt = Date.now() + 6_000;
    for (let i = 0; i < 50; i++) store.schedule(longAt + i, 1e9 + i, 1, timerId(1e9 + i));
    const waves = 50;
    const perWave = 2_000; // 100,000 timers = 5.6 MB of entries = 100 segments
    let maxSegments = 0;
    for (let wave = 0; wave < waves; wave++) {
      const base = Date.now() + 20;
      for (let i = 0; i < perWave; i++) store.schedule(base + (i % 60), wave * perWave + i + 1, 1, timerId(wave * perWave + i));
      await until(() => fired.size >= (wave + 1) * perWave && Date.now() >= base + 80); // 2 segments per >= 100 ms
      maxSegments = Math.max(maxSegments, segmentFiles(dir));
    }
    await until(() => fired.size === waves * perWave + 50);
    for (let i = 0; i < 50; i++) expect(fired.get(timerId(1e9 + i))?.deliverAt).toBe(longAt + i);
    expect(early).toBe(0);
    await until(() => store.stats().logSegments <= 2);
    const stats: TimerStoreStats = store.stats();
    expect(stats.reclaimedBytes).toBeGreaterThan(90 * SEGMENT);
    expect(stats.logBytes).toBeLessThanOrEqual(2 * SEGMENT);
    // Written: 100,000 entries + rolls = over 100 segments; on disk at any time: one wheel span of appends
    // (500 ms = at most 10 segments here) + the segment being written + one reclaim pass behind.
    expect(maxSegments).toBeLessThanOrEqual(14);
    expect(segmentFiles(dir)).toBe(stats.logSegments);
    await store.close();
    // Reopening after reclaiming starts from the remaining segments.
    const reopened = TimerStore.open(dir, RECLAIM_OPTIONS);
    expect(reopened.stats().pending).toBe(0);
    await reopened.close();
  }, 60_000);

  it('recovers after SIGKILL in the middle of reclaiming: no timer lost, none early', async () => {
    const dir = tempDir();
    const waves = 40;
    const perWave = 1_000; // 40 segments of entries, one wave every 100 ms
    const long = 20;
    const start = Date.now() + 1_500;
    const script = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'timer-child.ts');
    const child = spawn(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', script, dir, String(start), String(waves), String(perWave), String(long)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let last: TimerStoreStats | undefined;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      if (lines.length > 0) last = JSON.parse(lines.at(-1)!) as TimerStoreStats;
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Halfway: segments have been deleted and timers are being fired.
    await until(() => last !== undefined && last.reclaimedBytes >= 10 * SEGMENT && last.fired >= 15_000, 30_000);
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(dir, 'scheduled'))).toBe(true);
    const firedBefore = readFileSync(join(dir, 'fired.log'), 'utf8').trim().split('\n');
    expect(firedBefore.length).toBeLessThan(waves * perWave);

    const store = TimerStore.open(join(dir, 'timer'), RECLAIM_OPTIONS);
    const seen = new Map<string, number>();
    let early = 0;
    for (const line of firedBefore) {
      const [id, deliverAt, at] = line.split(' ');
      if (Number(at) < Number(deliverAt)) early++;
      seen.set(id!, (seen.get(id!) ?? 0) + 1);
    }
    store.onDue((due) => {
      const at = Date.now();
      for (const timer of due) {
        if (at < timer.deliverAt) early++;
        seen.set(timer.msgId, (seen.get(timer.msgId) ?? 0) + 1);
      }
    });
    await until(() => seen.size === waves * perWave + long, 20_000);
    for (let n = 0; n < waves * perWave; n++) expect(seen.has(timerId(n))).toBe(true);
    for (let i = 0; i < long; i++) expect(seen.has(timerId(1e9 + i))).toBe(true);
    expect(early).toBe(0);
    // At-least-once: only timers handed out after the last persisted read position can come twice.
    const duplicates = [...seen.values()].filter((count) => count > 1).length;
    expect(duplicates).toBeLessThan(2 * perWave);
    await until(() => store.stats().logSegments <= 3, 10_000);
    await store.close();
  }, 60_000);
});
