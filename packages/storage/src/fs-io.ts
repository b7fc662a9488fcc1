import { fdatasync, read, write, writeSync, writev, writevSync } from 'node:fs';

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

function writevAt(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, buffers, position, (error, written) => (error ? reject(error) : resolve(written)));
  });
}

function writeAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, buf, 0, buf.length, position, (error, written) => (error ? reject(error) : resolve(written)));
  });
}

/** IOV_MAX on Linux; larger vectors are split so no kernel limit truncates a batch. */
const MAX_IOVECS = 1024;

/** Writes every byte of `buffers` at `position`, looping over partial writes. */
export async function writeFully(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
  let index = 0;
  let skip = 0; // bytes of buffers[index] already written
  while (index < buffers.length) {
    const chunk: Buffer[] = [];
    for (let i = index; i < buffers.length && chunk.length < MAX_IOVECS; i++) {
      chunk.push(i === index && skip > 0 ? buffers[i]!.subarray(skip) : buffers[i]!);
    }
    let written = chunk.length === 1 ? await writeAt(fd, chunk[0]!, position) : await writevAt(fd, chunk, position);
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

export function syncData(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * Synchronous variant for the append path: a write into the page cache is a memory copy of a few
 * microseconds, far cheaper than the thread-pool round trip of an async write. fdatasync stays async.
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
