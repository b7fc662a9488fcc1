/** Per-entry state bits. */
export const PendingState = {
  /** A resolution (or check) is being written for it. */
  BUSY: 1,
  /** Loaded at start-up: a commit may have reached the real topic without its op; look before acting. */
  VERIFY: 2,
  /** Checks exhausted under the `keep` policy: waits for an operator. */
  KEPT: 4,
} as const;

/** Bytes of typed-array storage per slot (offset, store time, next check: 3 × f64; checks u16; state u8). */
export const PENDING_SLOT_BYTES = 8 * 3 + 2 + 1;

/**
 * The pending halves, compactly: a Map from commit-log offset to a slot number, and the slot fields in typed
 * arrays. No object and no message bytes per pending half: about PENDING_SLOT_BYTES + ~50 bytes of Map entry each.
 */
export class PendingTable {
  private readonly slots = new Map<number, number>();
  private offsets: Float64Array;
  private storeTimes: Float64Array;
  private nextChecks: Float64Array;
  private checkCounts: Uint16Array;
  private states: Uint8Array;
  private free: number[] = [];
  private used = 0;

  constructor(initialCapacity = 1024) {
    this.offsets = new Float64Array(initialCapacity);
    this.storeTimes = new Float64Array(initialCapacity);
    this.nextChecks = new Float64Array(initialCapacity);
    this.checkCounts = new Uint16Array(initialCapacity);
    this.states = new Uint8Array(initialCapacity);
  }

  get size(): number {
    return this.slots.size;
  }

  get capacity(): number {
    return this.offsets.length;
  }

  private grow(): void {
    const capacity = this.offsets.length * 2;
    const grow64 = (old: Float64Array) => {
      const next = new Float64Array(capacity);
      next.set(old);
      return next;
    };
    this.offsets = grow64(this.offsets);
    this.storeTimes = grow64(this.storeTimes);
    this.nextChecks = grow64(this.nextChecks);
    const checks = new Uint16Array(capacity);
    checks.set(this.checkCounts);
    this.checkCounts = checks;
    const states = new Uint8Array(capacity);
    states.set(this.states);
    this.states = states;
  }

  /** Adds a pending half; false if it is already there. */
  add(offset: number, storeTime: number, nextCheckAt: number, checks = 0, state = 0): boolean {
    if (this.slots.has(offset)) return false;
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.offsets.length) this.grow();
      slot = this.used++;
    }
    this.offsets[slot] = offset;
    this.storeTimes[slot] = storeTime;
    this.nextChecks[slot] = nextCheckAt;
    this.checkCounts[slot] = Math.min(checks, 0xffff);
    this.states[slot] = state;
    this.slots.set(offset, slot);
    return true;
  }

  has(offset: number): boolean {
    return this.slots.has(offset);
  }

  remove(offset: number): boolean {
    const slot = this.slots.get(offset);
    if (slot === undefined) return false;
    this.slots.delete(offset);
    this.states[slot] = 0;
    this.free.push(slot);
    return true;
  }

  /** The slot of a pending half, for the accessors below. */
  slot(offset: number): number | undefined {
    return this.slots.get(offset);
  }

  storeTime(slot: number): number {
    return this.storeTimes[slot]!;
  }

  nextCheckAt(slot: number): number {
    return this.nextChecks[slot]!;
  }

  setNextCheckAt(slot: number, at: number): void {
    this.nextChecks[slot] = at;
  }

  checks(slot: number): number {
    return this.checkCounts[slot]!;
  }

  setChecks(slot: number, checks: number): void {
    this.checkCounts[slot] = Math.min(checks, 0xffff);
  }

  hasState(slot: number, bit: number): boolean {
    return (this.states[slot]! & bit) !== 0;
  }

  setState(slot: number, bit: number, on: boolean): void {
    this.states[slot] = on ? this.states[slot]! | bit : this.states[slot]! & ~bit;
  }

  /** Pending offsets in insertion order (= log order, except entries re-added by a replay). */
  offsetsInOrder(): IterableIterator<number> {
    return this.slots.keys();
  }

  /** Offsets of halves due for a check (or exhaustion) at `now`, not busy and not kept, up to `max`. */
  due(now: number, max: number): number[] {
    const out: number[] = [];
    for (const [offset, slot] of this.slots) {
      if (this.nextChecks[slot]! <= now && (this.states[slot]! & (PendingState.BUSY | PendingState.KEPT)) === 0) {
        out.push(offset);
        if (out.length >= max) break;
      }
    }
    return out;
  }

  /** Every entry, for a snapshot. */
  *entries(): IterableIterator<{ offset: number; storeTime: number; nextCheckAt: number; checks: number }> {
    for (const [offset, slot] of this.slots) {
      yield { offset, storeTime: this.storeTimes[slot]!, nextCheckAt: this.nextChecks[slot]!, checks: this.checkCounts[slot]! };
    }
  }
}
