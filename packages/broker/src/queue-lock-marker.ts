import { join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from './json-file.js';

/** Under the broker's data dir, next to the topic and offset files. */
export const QUEUE_LOCK_MARKER_FILE = join('config', 'queue-locks.json');

/**
 * Remembers, across restarts, until when (wall clock) a queue lock this broker granted may still be held, so a
 * restarted broker refuses locks only while such a lease may still run — and a broker that never granted one (a
 * fresh standalone broker, a broker without orderly consumers) grants at once.
 *
 * A grant is only made once the marker on disk covers it; the marker is written two leases ahead, so that costs
 * one small fsynced write per lease at most, not one per request.
 */
export class QueueLockMarker {
  private saving: Promise<void> | undefined;

  private constructor(
    private readonly path: string,
    private readonly leaseMs: number,
    private persistedUntil: number,
    private readonly now: () => number,
  ) {}

  /** Reads the marker; `graceMs` is how long locks granted before this start may still be held (≤ one lease). */
  static async load(dataDir: string, leaseMs: number, now: () => number = Date.now): Promise<{ marker: QueueLockMarker; graceMs: number }> {
    const path = join(dataDir, QUEUE_LOCK_MARKER_FILE);
    const value = await readJsonFile(path);
    const leasedUntil = typeof value === 'object' && value !== null && typeof (value as { leasedUntil?: unknown }).leasedUntil === 'number' ? (value as { leasedUntil: number }).leasedUntil : undefined;
    // A marker without a readable time counts as "a lease may run": the safe side.
    const graceMs = value === undefined ? 0 : leasedUntil === undefined ? leaseMs : Math.min(leaseMs, Math.max(0, leasedUntil - now()));
    return { marker: new QueueLockMarker(path, leaseMs, leasedUntil ?? 0, now), graceMs };
  }

  /** Resolves once a lease granted now is covered on disk (at once when it already is). */
  async cover(): Promise<void> {
    while (this.now() + this.leaseMs > this.persistedUntil) {
      if (!this.saving) {
        const until = this.now() + 2 * this.leaseMs;
        this.saving = writeJsonAtomic(this.path, { leasedUntil: until })
          .then(() => {
            this.persistedUntil = Math.max(this.persistedUntil, until);
          })
          .finally(() => {
            this.saving = undefined;
          });
      }
      await this.saving;
    }
  }
}
