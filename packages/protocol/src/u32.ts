/**
 * Big-endian u16/u32 stores without Buffer#writeUInt*'s per-call argument checks, which on hot paths cost about as
 * much as the stores. Callers pass positions they already know to be in range (a typed array ignores stores past its
 * end, so a wrong position loses the value instead of throwing: check the range once, up front).
 */
export function putU32BE(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}

export function putU16BE(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 8;
  buf[at + 1] = value;
}
