/**
 * 32-bit FNV-1a hash of a tag's UTF-8 bytes, stored in the ConsumeQueue so brokers filter by tag
 * without reading the log. 0 means "no tag"; a real tag that hashes to 0 is mapped to 1. Collisions
 * are possible, so clients re-check the exact tag.
 */
export function tagHashOfBytes(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (end <= start) return 0;
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  const unsigned = hash >>> 0;
  return unsigned === 0 ? 1 : unsigned;
}

export function tagHash(tag: string | undefined): number {
  if (!tag) return 0;
  return tagHashOfBytes(Buffer.from(tag, 'utf8'));
}
