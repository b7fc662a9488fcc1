import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Tombstones of cancelled timers, by message id (hex), each with an expiry (the timer's delivery time
 * plus a margin): checked at fire time, dropped when consumed or expired, so memory is bounded by the
 * cancelled timers still pending. Persisted as an append-only file of `id expiresAt` lines, compacted on open.
 */
export class CancelSet {
  private readonly entries = new Map<string, number>();

  private constructor(private readonly path: string) {}

  static open(path: string, now: number): CancelSet {
    const set = new CancelSet(path);
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const [id, expires] = line.split(' ');
        if (!id || !expires) continue;
        const at = Number(expires);
        if (at < 0) set.entries.delete(id);
        else if (at > now) set.entries.set(id, at);
      }
    }
    set.compact();
    return set;
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, [...this.entries].map(([id, at]) => `${id} ${at}\n`).join(''));
    renameSync(tmp, this.path);
  }

  add(id: string, expiresAt: number): void {
    this.entries.set(id, expiresAt);
    appendFileSync(this.path, `${id} ${expiresAt}\n`);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** True (and forgets the tombstone) when `id` was cancelled. */
  take(id: string): boolean {
    if (!this.entries.delete(id)) return false;
    appendFileSync(this.path, `${id} -1\n`);
    return true;
  }

  expire(now: number): void {
    let removed = 0;
    for (const [id, at] of this.entries) {
      if (at <= now) {
        this.entries.delete(id);
        removed++;
      }
    }
    if (removed > 0) this.compact();
  }

  get size(): number {
    return this.entries.size;
  }
}
