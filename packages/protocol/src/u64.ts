/**
 * 64-bit fields hold offsets and timestamps. JavaScript numbers are exact up to 2^53, which covers
 * 8 PiB of log and every millisecond timestamp, so we store them as two big-endian u32 halves and
 * avoid BigInt allocations on the hot path.
 */
const TWO_POW_32 = 0x1_0000_0000;

export function writeU64(buf: Uint8Array, offset: number, value: number): void {
  const view = buf as Buffer;
  const high = Math.floor(value / TWO_POW_32);
  view.writeUInt32BE(high >>> 0, offset);
  view.writeUInt32BE(value >>> 0, offset + 4);
}

export function readU64(buf: Uint8Array, offset: number): number {
  const view = buf as Buffer;
  return view.readUInt32BE(offset) * TWO_POW_32 + view.readUInt32BE(offset + 4);
}
