import { readdir } from 'node:fs/promises';

/** Segment files are named by their 20-digit, zero-padded start offset so that names sort like offsets. */
export function segmentFileName(startOffset: number): string {
  return String(startOffset).padStart(20, '0');
}

const SEGMENT_NAME = /^\d{20}$/;

/** Start offsets of the segment files in `dir`, ascending; a missing directory has none. */
export async function listSegmentStarts(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter((name) => SEGMENT_NAME.test(name)).map(Number).sort((a, b) => a - b);
}
