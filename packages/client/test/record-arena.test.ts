import { describe, expect, it } from 'vitest';
import { RecordArena } from '../src/record-arena.js';

describe('RecordArena', () => {
  it('hands out exact-size buffers that never overlap, from shared chunks', () => {
    const arena = new RecordArena();
    const buffers = Array.from({ length: 2000 }, (_, i) => arena.allocate(1 + (i % 1500)));
    buffers.forEach((buf, i) => {
      expect(buf.length).toBe(1 + (i % 1500));
      buf.fill(i & 0xff);
    });
    // Every buffer still holds its own fill: no two share a byte.
    buffers.forEach((buf, i) => expect(buf.every((byte) => byte === (i & 0xff))).toBe(true));
    const chunks = new Set(buffers.map((buf) => buf.buffer));
    expect(chunks.size).toBeGreaterThan(1);
    expect(chunks.size).toBeLessThan(buffers.length / 50);
  });

  it('gives a large record a buffer of its own', () => {
    const arena = new RecordArena();
    const small = arena.allocate(1024);
    const large = arena.allocate(64 * 1024);
    expect(large.buffer).not.toBe(small.buffer);
    expect(arena.allocate(1024).buffer).toBe(small.buffer);
  });
});
