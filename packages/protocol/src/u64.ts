/**
 * 64-bit fields hold offsets and timestamps. JavaScript numbers are exact up to 2^53, which covers
 * 8 PiB of log and every millisecond timestamp, so we store them as two big-endian u32 halves and
 * avoid BigInt allocations on the hot path.
 */
const TWO_POW_32 = 0x1_0000_0000;

export function writeU64(buf: Uint8Array, offset: number, value: number): void {
  // Plain byte stores (no per-call argument validation); an out-of-range offset still throws, as writeUInt32BE did.
  if (!(offset >= 0 && offset + 8 <= buf.length)) throw new RangeError(`offset ${offset} is out of range for an 8-byte field in ${buf.length} bytes`);
  const high = Math.floor(value / TWO_POW_32) >>> 0;
  const low = value >>> 0;
  buf[offset] = high >>> 24;
  buf[offset + 1] = high >>> 16;
  buf[offset + 2] = high >>> 8;
  buf[offset + 3] = high;
  buf[offset + 4] = low >>> 24;
  buf[offset + 5] = low >>> 16;
  buf[offset + 6] = low >>> 8;
  buf[offset + 7] = low;
}

export function readU64(buf: Uint8Array, offset: number): number {
  const view = buf as Buffer;
  return view.readUInt32BE(offset) * TWO_POW_32 + view.readUInt32BE(offset + 4);
}
