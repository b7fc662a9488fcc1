/**
 * CRC-32 (IEEE, the same as zlib.crc32) over `buf[start, end)`. For the ~130 header and trailer bytes of a
 * record a table loop beats zlib.crc32, which needs a subarray object and a native call per range.
 */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

export function crc32Range(buf: Uint8Array, start: number, end: number, previous = 0): number {
  let crc = ~previous;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
