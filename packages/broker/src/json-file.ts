import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BrokerError, BrokerErrorCode } from './errors.js';

/** Parses a JSON file, or returns undefined when it does not exist. Unparsable files are CONFIG_CORRUPT. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BrokerError(BrokerErrorCode.CONFIG_CORRUPT, `${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** Writes `value` as JSON atomically: temp file, fsync, rename. A crash leaves the old or the new file, never half of one. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(JSON.stringify(value, null, 2));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

/**
 * Serialises saves of one file: a save requested while one runs is coalesced into a single next save,
 * and every caller resolves once a save that started after its request has finished.
 */
export class SerialSaver {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly save: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) {
      this.running = this.save().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.request();
      });
    return this.next;
  }
}
