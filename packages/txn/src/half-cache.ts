/** Recently stored half records by commit-log offset, within a byte budget (oldest evicted first). */
export class HalfCache {
  private readonly records = new Map<number, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(offset: number, record: Buffer): void {
    if (record.length > this.maxBytes) return;
    this.delete(offset);
    while (this.bytes + record.length > this.maxBytes) {
      const oldest = this.records.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    this.records.set(offset, record);
    this.bytes += record.length;
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

/** A Map capped at `max` entries, dropping the oldest. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {}

  set(key: K, value: V): void {
    if (this.max === 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  get size(): number {
    return this.map.size;
  }
}
