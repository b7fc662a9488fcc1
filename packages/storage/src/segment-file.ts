import { closeSync } from 'node:fs';
import { readFully } from './fs-io.js';

/**
 * An open segment file shared by the writer and async readers. A segment that is deleted (retention, truncation)
 * is retired: its fd is closed only once no positional read is in flight, never under one (a reused fd number
 * would otherwise make that read return another file's bytes).
 */
export interface SegmentFile {
  fd: number;
  readers: number;
  retired: boolean;
}

export function retireSegment(segment: SegmentFile): void {
  segment.retired = true;
  if (segment.readers === 0) closeSync(segment.fd);
}

/** Async positional read that keeps the segment's fd open until it completes. */
export async function readSegment(segment: SegmentFile, length: number, position: number): Promise<Buffer> {
  segment.readers++;
  try {
    return await readFully(segment.fd, length, position);
  } finally {
    segment.readers--;
    if (segment.retired && segment.readers === 0) closeSync(segment.fd);
  }
}
