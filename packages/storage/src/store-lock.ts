import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, StorageErrorCode } from './errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per store directory. The lock file holds the owner's pid; a lock left by a process that
 * died (kill -9) is taken over, a live owner's is refused with STORE_LOCKED.
 */
const lockedHere = new Set<string>();

export async function acquireStoreLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'lock');
  if (lockedHere.has(path)) throw new StorageError(StorageErrorCode.STORE_LOCKED, `store ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      lockedHere.add(path);
      return async () => {
        lockedHere.delete(path);
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner && isAlive(owner) && owner !== process.pid) {
        throw new StorageError(StorageErrorCode.STORE_LOCKED, `store ${dir} is in use by process ${owner}`);
      }
      await rm(path, { force: true });
    }
  }
  throw new StorageError(StorageErrorCode.STORE_LOCKED, `could not lock store ${dir}`);
}
