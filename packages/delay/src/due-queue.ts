/**
 * The timers loaded ahead of their time, in typed arrays (struct of arrays) with a binary min-heap of slot
 * numbers ordered by fire time. No object is allocated per loaded timer, so thousands of timers waiting in
 * memory for up to `loadAheadMs` are not objects the garbage collector has to copy and promote.
 *
 * A slot is taken by push() and stays taken (while its batch is being delivered) until release().
 */
export class DueQueue {
  fireAt = new Float64Array(0);
  deliverAt = new Float64Array(0);
  commitLogOffset = new Float64Array(0);
  tick = new Float64Array(0);
  size = new Uint32Array(0);
  flags = new Uint16Array(0);
  /** 16 bytes per slot. */
  ids = Buffer.alloc(0);
  private heap = new Int32Array(0);
  private heapSize = 0;
  private free = new Int32Array(0);
  private freeCount = 0;
  private capacity = 0;

  constructor(initialCapacity = 4_096) {
    this.grow(initialCapacity);
  }

  /** Timers waiting in the heap. */
  get length(): number {
    return this.heapSize;
  }

  private grow(capacity: number): void {
    const copyF64 = (from: Float64Array) => {
      const to = new Float64Array(capacity);
      to.set(from);
      return to;
    };
    this.fireAt = copyF64(this.fireAt);
    this.deliverAt = copyF64(this.deliverAt);
    this.commitLogOffset = copyF64(this.commitLogOffset);
    this.tick = copyF64(this.tick);
    const size = new Uint32Array(capacity);
    size.set(this.size);
    this.size = size;
    const flags = new Uint16Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
    const ids = Buffer.alloc(capacity * 16);
    this.ids.copy(ids);
    this.ids = ids;
    const heap = new Int32Array(capacity);
    heap.set(this.heap.subarray(0, this.heapSize));
    this.heap = heap;
    const free = new Int32Array(capacity);
    free.set(this.free.subarray(0, this.freeCount));
    // New slots are free, lowest numbers taken first.
    for (let slot = capacity - 1; slot >= this.capacity; slot--) free[this.freeCount++] = slot;
    this.free = free;
    this.capacity = capacity;
  }

  /** Takes a slot for a timer (fields and id copied in) and adds it to the heap; returns the slot. */
  push(fireAt: number, deliverAt: number, tick: number, commitLogOffset: number, size: number, flags: number, id: Uint8Array, idOffset: number): number {
    if (this.freeCount === 0) this.grow(this.capacity * 2);
    const slot = this.free[--this.freeCount]!;
    this.fireAt[slot] = fireAt;
    this.deliverAt[slot] = deliverAt;
    this.tick[slot] = tick;
    this.commitLogOffset[slot] = commitLogOffset;
    this.size[slot] = size;
    this.flags[slot] = flags;
    this.ids.set(id.subarray(idOffset, idOffset + 16), slot * 16);
    this.insert(slot);
    return slot;
  }

  /** Puts a taken slot (back) into the heap, e.g. for a retry at a later fireAt. */
  insert(slot: number): void {
    const heap = this.heap;
    const key = this.fireAt[slot]!;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = heap[parent]!;
      if (this.fireAt[up]! <= key) break;
      heap[i] = up;
      i = parent;
    }
    heap[i] = slot;
  }

  /** Fire time of the earliest timer (Infinity when empty). */
  peekFireAt(): number {
    return this.heapSize === 0 ? Infinity : this.fireAt[this.heap[0]!]!;
  }

  /** Removes the earliest timer from the heap and returns its slot (still taken), or -1. */
  pop(): number {
    if (this.heapSize === 0) return -1;
    const heap = this.heap;
    const fireAt = this.fireAt;
    const top = heap[0]!;
    const last = heap[--this.heapSize]!;
    if (this.heapSize > 0) {
      const key = fireAt[last]!;
      const n = this.heapSize;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && fireAt[heap[right]!]! < fireAt[heap[left]!]! ? right : left;
        if (fireAt[heap[child]!]! >= key) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Message id of a slot as 32 hex digits. */
  idHex(slot: number): string {
    return this.ids.toString('hex', slot * 16, slot * 16 + 16);
  }

  /** Frees a slot once its timer is delivered or dropped. */
  release(slot: number): void {
    this.free[this.freeCount++] = slot;
  }
}
