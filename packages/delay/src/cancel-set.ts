import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Why a timer was cancelled: `cancelled` (it must not fire: acknowledged, or cancelled by request) or `replaced`
 * (it must not fire because another timer took its place, e.g. a pop checkpoint replaced by changeInvisibleDuration).
 */
export type TimerCancelKind = 'cancelled' | 'replaced';

/** Suffix of a `replaced` line in the file; a line without one is `cancelled` (so files of older versions read as before). */
const REPLACED_MARK = 'r';

/**
 * Tombstones of cancelled timers, by message id (hex). Each keeps the time up to which its timer may still
 * fire; the timer store drops it only once it has durably processed every tick up to that time (see
 * `expire`), never by wall-clock time: a store closed for longer than any grace still finds the tombstone when
 * the overdue timer fires at start-up. A tombstone taken at fire time leaves the lookup at once but stays in the
 * file until then as well, so a timer fired again after a crash (firing is at-least-once) is still cancelled.
 * Memory is bounded by the tombstones of timers the store has not processed yet. Persisted as an append-only
 * file of `id time` lines (`id time r`: replaced; `id -1`: taken, written by older versions), compacted when
 * tombstones are dropped. Older versions read an `r` line as a plain cancellation (they ignore the third field).
 * Every change reaches the file before memory: a failed write leaves no tombstone that a restart would lose.
 */
export class CancelSet {
  /** Live tombstones: the timer has not fired yet. */
  private readonly entries = new Map<string, number>();
  /** Taken tombstones (their timer was dropped at fire time), kept in the file until processed durably. */
  private readonly taken = new Map<string, number>();
  /** Ids (live or taken) whose cancellation is `replaced`; the rest are `cancelled`. */
  private readonly replaced = new Set<string>();

  private constructor(private readonly path: string) {}

  /** Loads every tombstone of the file (none is dropped here: the store has not fired the overdue timers yet). */
  static open(path: string): CancelSet {
    const set = new CancelSet(path);
    if (existsSync(path)) {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const [id, until, mark] = line.split(' ');
        if (!id || !until) continue;
        const at = Number(until);
        if (!Number.isFinite(at)) continue;
        if (at < 0) {
          set.entries.delete(id);
          set.replaced.delete(id);
        } else {
          set.entries.set(id, at);
          if (mark === REPLACED_MARK) set.replaced.add(id);
          else set.replaced.delete(id);
        }
      }
    }
    set.compact();
    return set;
  }

  private line(id: string, at: number): string {
    return this.replaced.has(id) ? `${id} ${at} ${REPLACED_MARK}\n` : `${id} ${at}\n`;
  }

  private compact(): void {
    const tmp = `${this.path}.tmp`;
    let text = '';
    for (const map of [this.entries, this.taken]) for (const [id, at] of map) text += this.line(id, at);
    writeFileSync(tmp, text);
    renameSync(tmp, this.path);
  }

  /** Records that the timer of `id`, due at or before `until` (ms), must not fire; throws (changing nothing) if the file cannot be written. */
  add(id: string, until: number, kind: TimerCancelKind = 'cancelled'): void {
    appendFileSync(this.path, kind === 'replaced' ? `${id} ${until} ${REPLACED_MARK}\n` : `${id} ${until}\n`);
    this.entries.set(id, until);
    this.taken.delete(id);
    if (kind === 'replaced') this.replaced.add(id);
    else this.replaced.delete(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Why the timer of `id` was cancelled, while its tombstone is live (undefined otherwise). */
  kind(id: string): TimerCancelKind | undefined {
    if (!this.entries.has(id)) return undefined;
    return this.replaced.has(id) ? 'replaced' : 'cancelled';
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
          this.replaced.delete(id);
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
