/** FNV-1a 32-bit offset basis: the seed of a fresh hash. */
export const FNV1A_SEED = 0x811c9dc5;

const FNV1A_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a of `buf[start, end)`. Passing a previous result as `seed` continues that hash, so
 * `hashBytes(key, 0, k, hashBytes(topic, 0, t))` equals the hash of topic+key without building a string.
 */
export function hashBytes(buf: Uint8Array, start: number, end: number, seed: number = FNV1A_SEED): number {
  let h = seed >>> 0;
  for (let i = start; i < end; i++) {
    h = Math.imul(h ^ buf[i], FNV1A_PRIME);
  }
  return h >>> 0;
}
