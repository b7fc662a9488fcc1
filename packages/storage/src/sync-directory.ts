import { open } from 'node:fs/promises';

/**
 * fsync a directory so that files created or renamed in it survive a power loss (POSIX does not make a new
 * directory entry durable through the file's own fdatasync).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
