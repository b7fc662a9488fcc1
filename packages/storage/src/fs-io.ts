import { fdatasync, read, readSync, writeSync, writevSync } from 'node:fs';

/** Thin promise wrappers over positional fs calls: one promise per call, no stream machinery. */
export function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/** Reads exactly `length` bytes, or fewer only at end of file. */
export async function readFully(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = await readAt(fd, buf, done, length - done, position + done);
    if (n === 0) return buf.subarray(0, done);
    done += n;
  }
  return buf;
}

/**
 * Synchronous `readFully`, for bytes written recently (still in the page cache): a positional read from the
 * cache is a memory copy of a few microseconds, while an async read costs a thread-pool round trip (tens of
 * microseconds on the event loop thread for the wake-up alone on a small VM).
 */
export function readFullySync(fd: number, length: number, position: number, into?: Buffer): Buffer {
  const buf = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) return buf.subarray(0, done);
    done += n;
  }
  return buf;
}

/**
 * Reads of the newest bytes of a file go through `readFullySync` (see there); anything older than this many bytes
 * behind the end of what was written may have left the page cache, so it is read through the thread pool and
 * never blocks the event loop on the disk.
 */
export const SYNC_READ_WINDOW_BYTES = 256 * 1024 * 1024;

/** IOV_MAX on Linux; larger vectors are split so no kernel limit truncates a batch. */
const MAX_IOVECS = 1024;

export function syncData(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * Writes every byte of `buffers` at `position`, looping over partial writes. Synchronous on purpose: on the
 * append path a write into the page cache is a memory copy of a few microseconds, far cheaper than the
 * thread-pool round trip of an async write. fdatasync stays async.
 */
export function writeFullySync(fd: number, buffers: readonly Buffer[], position: number): void {
  let index = 0;
  let skip = 0;
  while (index < buffers.length) {
    const chunk: Buffer[] = [];
    for (let i = index; i < buffers.length && chunk.length < MAX_IOVECS; i++) {
      chunk.push(i === index && skip > 0 ? buffers[i]!.subarray(skip) : buffers[i]!);
    }
    let written = chunk.length === 1 ? writeSync(fd, chunk[0]!, 0, chunk[0]!.length, position) : writevSync(fd, chunk, position);
    position += written;
    while (index < buffers.length && written > 0) {
      const remaining = buffers[index]!.length - skip;
      if (written >= remaining) {
        written -= remaining;
        index++;
        skip = 0;
      } else {
        skip += written;
        written = 0;
      }
    }
    while (index < buffers.length && buffers[index]!.length === 0) index++;
  }
}
