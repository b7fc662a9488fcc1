import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Tombstones of cancelled timers, by message id (hex). Each keeps the time up to which its timer may still
 * fire; the timer store drops it only once it has durably processed every tick up to that time (see
 * `expire`), never by wall-clock time: a store closed for longer than any grace still finds the tombstone when
 * the overdue timer fires at start-up. A tombstone taken at fire time leaves the lookup at once but stays in the
 * file until then as well, so a timer fired again after a crash (firing is at-least-once) is still cancelled.
 * Memory is bounded by the tombstones of timers the store has not processed yet. Persisted as an append-only
 * file of `id time` lines (`id -1`: taken, written by older versions), compacted when tombstones are dropped.
 */
export class CancelSet {
  /** Live tombstones: the timer has not fired yet. */
  private readonly entries = new Map<string, number>();
  /** Taken tombstones (their timer was dropped at fire time), kept in the file until processed durably. */
  private readonly taken = new Map<string, number>();

  private constructor(private readonly path: string) {}

  /** Loads every tombstone of the file (none is dropped here: the store has not fired the overdue timers yet). */
  static open(path: string): CancelSet {
    const set = new CancelSet(path);
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const [id, until] = line.split(' ');
        if (!id || !until) continue;
        const at = Number(until);
        if (!Number.isFinite(at)) continue;
        if (at < 0) set.entries.delete(id);
        else set.entries.set(id, at);
      }
    }
    set.compact();
    return set;
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    let text = '';
    for (const map of [this.entries, this.taken]) for (const [id, at] of map) text += `${id} ${at}\n`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.path);
  }

  /** Records that the timer of `id`, due at or before `until` (ms), must not fire. */
  add(id: string, until: number): void {
    this.entries.set(id, until);
    this.taken.delete(id);
    appendFileSync(this.path, `${id} ${until}\n`);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** True (and forgets the tombstone for lookups) when `id` was cancelled. */
  take(id: string): boolean {
    const at = this.entries.get(id);
    if (at === undefined) return false;
    this.entries.delete(id);
    this.taken.set(id, at);
    return true;
  }

  /**
   * Drops the tombstones whose time is before `processedUntil`: the store has durably fired (or dropped) every
   * timer due before it, so none of them can fire again.
   */
  expire(processedUntil: number): void {
    let removed = 0;
    for (const map of [this.entries, this.taken]) {
      for (const [id, at] of map) {
        if (at < processedUntil) {
          map.delete(id);
          removed++;
        }
      }
    }
    if (removed > 0) this.compact();
  }

  /** Live tombstones. */
  get size(): number {
    return this.entries.size;
  }

  /** Tombstones held (live and taken): what memory and the file hold. */
  get retained(): number {
    return this.entries.size + this.taken.size;
  }
}
