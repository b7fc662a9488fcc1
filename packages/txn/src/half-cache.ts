/**
 * Insertion order of numeric keys as a growable ring, for evicting the oldest entry of a Map without
 * `map.keys().next()`: a V8 Map keeps deleted entries as holes at the front until it rehashes, so asking it for its
 * first key after many deletions walks every hole (quadratic over a long run of FIFO deletes).
 */
class KeyRing {
  private keys = new Float64Array(1024);
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(key: number): void {
    if (this.count === this.keys.length) {
      const next = new Float64Array(this.keys.length * 2);
      for (let i = 0; i < this.count; i++) next[i] = this.keys[(this.head + i) % this.keys.length]!;
      this.keys = next;
      this.head = 0;
    }
    this.keys[(this.head + this.count) % this.keys.length] = key;
    this.count++;
  }

  shift(): number | undefined {
    if (this.count === 0) return undefined;
    const key = this.keys[this.head]!;
    this.head = (this.head + 1) % this.keys.length;
    this.count--;
    return key;
  }
}

/** Recently stored half records by commit-log offset, within a byte budget (oldest evicted first). */
export class HalfCache {
  private readonly records = new Map<number, Buffer>();
  /** Offsets in insertion order; may still hold offsets deleted since (skipped on eviction, compacted when mostly stale). */
  private order = new KeyRing();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(offset: number, record: Buffer): void {
    if (record.length > this.maxBytes) return;
    this.delete(offset);
    while (this.bytes + record.length > this.maxBytes) {
      const oldest = this.order.shift();
      if (oldest === undefined) break;
      this.delete(oldest);
    }
    this.records.set(offset, record);
    this.order.push(offset);
    this.bytes += record.length;
    if (this.order.length > 2 * this.records.size + 1024) this.compact();
  }

  private compact(): void {
    const order = new KeyRing();
    const seen = new Set<number>();
    for (let key = this.order.shift(); key !== undefined; key = this.order.shift()) {
      if (this.records.has(key) && !seen.has(key)) {
        seen.add(key);
        order.push(key);
      }
    }
    this.order = order;
  }

  get(offset: number): Buffer | undefined {
    return this.records.get(offset);
  }

  delete(offset: number): void {
    const record = this.records.get(offset);
    if (record === undefined) return;
    this.records.delete(offset);
    this.bytes -= record.length;
  }

  get size(): number {
    return this.records.size;
  }

  get byteSize(): number {
    return this.bytes;
  }
}

/** A Map of numeric keys capped at `max` entries, dropping the oldest inserted (a value update keeps its place). */
export class BoundedMap<V> {
  private readonly map = new Map<number, V>();
  private readonly order = new KeyRing();

  constructor(private readonly max: number) {}

  set(key: number, value: V): void {
    if (this.max === 0) return;
    if (this.map.has(key)) {
      this.map.set(key, value);
      return;
    }
    this.map.set(key, value);
    this.order.push(key);
    while (this.order.length > this.max) this.map.delete(this.order.shift()!);
  }

  get(key: number): V | undefined {
    return this.map.get(key);
  }

  get size(): number {
    return this.map.size;
  }
}
