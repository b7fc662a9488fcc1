/**
 * Hands out the record buffers of a producer from shared 256 KiB chunks. Buffer.allocUnsafe takes small buffers
 * from an 8 KiB pool and creates a new ArrayBuffer for every few 1 KiB records (about a third of the cost of
 * encoding one); a chunk serves ~200. A chunk is freed once no record in it is referenced, i.e. soon after the
 * sends it holds settle. Records over 1/8 of a chunk get their own buffer, so one large record never pins a chunk
 * of small ones for long or wastes most of a chunk. The cost: a record kept alive longer (its send waiting on a
 * stalled connection, bytes still queued in a socket that is not drained) keeps its whole 256 KiB chunk alive, where
 * a pool record kept 8 KiB; sends are bounded by their timeout and the connection's backpressure, so this is bounded
 * too.
 */
const CHUNK_BYTES = 256 * 1024;
const MAX_SHARED_BYTES = CHUNK_BYTES / 8;

export class RecordArena {
  private chunk = new ArrayBuffer(0);
  private used = 0;

  /** Exactly `size` writable bytes, not zeroed. */
  readonly allocate = (size: number): Buffer => {
    if (size > MAX_SHARED_BYTES) return Buffer.allocUnsafe(size);
    if (this.used + size > this.chunk.byteLength) {
      this.chunk = new ArrayBuffer(CHUNK_BYTES);
      this.used = 0;
    }
    const buf = Buffer.from(this.chunk, this.used, size);
    this.used += (size + 7) & ~7; // 8-byte aligned starts, like Buffer's pool
    return buf;
  };
}
