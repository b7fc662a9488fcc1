import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientError } from '../src/index.js';
import { broadcastSettingsOf, defaultInstanceName, defaultOffsetStoreDir } from '../src/broadcast.js';
import { LocalOffsetStore } from '../src/local-offset-store.js';
import { silentClientLogger } from '../src/logger.js';

const RACER = fileURLToPath(new URL('./fixtures/lock-racer.ts', import.meta.url));
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

const dirs: string[] = [];
const stores: LocalOffsetStore[] = [];
const racers: Racer[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  await Promise.all(racers.splice(0).map((racer) => racer.stop()));
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-offsets-'));
  dirs.push(dir);
  return dir;
}

async function open(path: string, options: { group?: string; clientId?: string } = {}): Promise<LocalOffsetStore> {
  const store = await LocalOffsetStore.open({ path, group: options.group ?? 'cg', instanceName: 'node-1', clientId: options.clientId ?? 'client-1', logger: silentClientLogger });
  stores.push(store);
  return store;
}

const q0 = { topic: 'orders', brokerName: 'broker-a', queueId: 0 };
const q1 = { topic: 'orders', brokerName: 'broker-b', queueId: 1 };

async function openError(path: string, options: { group?: string } = {}): Promise<ClientError> {
  const error = await open(path, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ClientError);
  return error as ClientError;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

interface Racer {
  pid: number;
  /** Asks the racer to open a store on `path`; resolves with its answer (`acquired ...` or `refused ... <code>`). */
  open(path: string): Promise<string>;
  stop(): Promise<void>;
}

/** A child process opening stores on command (fixtures/lock-racer.ts); resolves once it is ready. */
function startRacer(): Promise<Racer> {
  const child = spawn(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', RACER], { cwd: PACKAGE_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = new Map<string, (answer: string) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error('the lock racer exited before it was ready')));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') {
        resolve({
          pid: child.pid!,
          open: (path) =>
            new Promise((answer) => {
              waiting.set(path, answer);
              child.stdin!.write(`open ${path}\n`);
            }),
          stop: () => {
            child.stdin!.end();
            return exited;
          },
        });
        return;
      }
      const path = line.split(' ')[1]!;
      waiting.get(path)?.(line);
      waiting.delete(path);
    });
  });
}

describe('LocalOffsetStore', () => {
  it('persists offsets to a JSON file and reads them back after a reopen', async () => {
    const path = join(await tempDir(), 'node-1', 'cg.json');
    const store = await open(path);
    expect(store.read(q0)).toBeUndefined();
    store.update(q0, 42);
    store.update(q1, 7);
    await store.persist();
    const file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(file).toMatchObject({
      version: 1,
      group: 'cg',
      instanceName: 'node-1',
      offsets: [
        { ...q0, offset: 42 },
        { ...q1, offset: 7 },
      ],
    });
    store.update(q0, 50);
    await store.close();
    await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });

    const again = await open(path);
    expect(again.read(q0)).toBe(50);
    expect(again.read(q1)).toBe(7);
    expect(again.size).toBe(2);
  });

  it('writes atomically: a failed write leaves the previous file whole, and no temp file stays behind', async () => {
    const dir = await tempDir();
    const path = join(dir, 'cg.json');
    const store = await open(path);
    store.update(q0, 10);
    await store.persist();
    expect((await readdir(dir)).sort()).toEqual(['cg.json', 'cg.json.lock']);
    const before = await readFile(path, 'utf8');

    // Make the temp file impossible to create: the write must fail without touching cg.json.
    await mkdir(`${path}.tmp`);
    store.update(q0, 20);
    await expect(store.persist()).rejects.toMatchObject({ code: 'OFFSET_STORE_FAILED' });
    expect(await readFile(path, 'utf8')).toBe(before);

    // Once writable again, the offset that failed to persist is written by the next persist.
    await rm(`${path}.tmp`, { recursive: true });
    await store.persist();
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ offsets: [{ ...q0, offset: 20 }] });
    expect(await readdir(dir)).not.toContain('cg.json.tmp');
  });

  it('ignores a temp file left by a crash mid-write', async () => {
    const dir = await tempDir();
    const path = join(dir, 'cg.json');
    const store = await open(path);
    store.update(q0, 5);
    await store.close();
    await writeFile(`${path}.tmp`, '{"version":1,"group":"cg","offs'); // torn write of a later save
    const again = await open(path);
    expect(again.read(q0)).toBe(5);
  });

  it('refuses a corrupt file with OFFSET_STORE_CORRUPT instead of starting over', async () => {
    const dir = await tempDir();
    const path = join(dir, 'cg.json');
    const cases: Array<[string, string]> = [
      ['', 'not valid JSON'],
      ['{"version":1,"group":"cg","offsets":[{"topic":"orders"', 'not valid JSON'],
      ['[1,2]', 'not a JSON object'],
      ['{"version":2,"group":"cg","offsets":[]}', 'version 2'],
      ['{"version":1,"group":"other","offsets":[]}', 'belongs to group "other"'],
      ['{"version":1,"group":"cg"}', 'no offsets array'],
      ['{"version":1,"group":"cg","offsets":[{"topic":"orders","brokerName":"broker-a","queueId":0,"offset":-1}]}', 'invalid entry offsets[0]'],
    ];
    for (const [text, problem] of cases) {
      await writeFile(path, text);
      const error = await openError(path);
      expect(error.code).toBe('OFFSET_STORE_CORRUPT');
      expect(error.retriable).toBe(false);
      expect(error.message).toContain(path);
      expect(error.message).toContain(problem);
      // The failed open released its lock: a valid file opens right after.
      await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await writeFile(path, JSON.stringify({ version: 1, group: 'cg', offsets: [{ ...q0, offset: 3 }] }));
    expect((await open(path)).read(q0)).toBe(3);
  });

  it('locks the file against a second user, in this process or another live one, and takes over a dead one', async () => {
    const path = join(await tempDir(), 'cg.json');
    const first = await open(path);
    const error = await openError(path);
    expect(error.code).toBe('OFFSET_STORE_LOCKED');
    expect(error.message).toContain('instanceName');
    await first.close();

    // A lock held by another live process of this host (the parent of this test process here).
    await writeFile(`${path}.lock`, JSON.stringify({ pid: process.ppid, hostname: hostname(), clientId: 'other', at: Date.now() }));
    expect((await openError(path)).code).toBe('OFFSET_STORE_LOCKED');

    // Left behind by a process killed without closing: taken over.
    await writeFile(`${path}.lock`, JSON.stringify({ pid: await deadPid(), hostname: hostname(), clientId: 'dead', at: Date.now() }));
    const store = await open(path, { clientId: 'client-2' });
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, clientId: 'client-2' });
    await store.close();
    await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });

    // An unreadable lock file is stale too.
    await writeFile(`${path}.lock`, 'garbage');
    await (await open(path)).close();
  });

  it('gives the lock to one of two stores of this process opened at once', async () => {
    const path = join(await tempDir(), 'node-1', 'cg.json');
    const results = await Promise.allSettled([open(path, { clientId: 'client-a' }), open(path, { clientId: 'client-b' })]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    expect(fulfilled).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'OFFSET_STORE_LOCKED' } });
    // The loser left the lock file alone; once the winner closes, the file is free again.
    const winner = (fulfilled[0] as PromiseFulfilledResult<LocalOffsetStore>).value;
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    await winner.close();
    await expect(readFile(`${path}.lock`)).rejects.toMatchObject({ code: 'ENOENT' });
    await (await open(path)).close();
  });

  it('takes over a lock with its own pid that no store of this process holds (a pid reused after a restart)', async () => {
    const path = join(await tempDir(), 'cg.json');
    await writeFile(`${path}.lock`, JSON.stringify({ pid: process.pid, hostname: hostname(), clientId: 'previous-run', at: Date.now() }));
    const store = await open(path, { clientId: 'client-2' });
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, clientId: 'client-2' });
    // While it is held, the registry of this process refuses a second store even though the pid is its own.
    expect((await openError(path)).code).toBe('OFFSET_STORE_LOCKED');
    await store.close();
  });

  it('leaves a stale lock to a live process taking it over, and clears the takeover guard of a dead one', async () => {
    const dir = await tempDir();
    const path = join(dir, 'cg.json');
    const dead = await deadPid();
    await writeFile(`${path}.lock`, JSON.stringify({ pid: dead, hostname: hostname(), clientId: 'dead', at: Date.now() }));
    // Another live process of this host is removing that stale lock right now: it is about to own the file.
    await writeFile(`${path}.lock.takeover`, JSON.stringify({ pid: process.ppid, hostname: hostname(), clientId: 'taker', at: Date.now() }));
    expect((await openError(path)).message).toContain(`being taken over by process ${process.ppid}`);
    // The taker died mid-takeover: its guard is stale too; both are cleared and the lock is ours.
    await writeFile(`${path}.lock.takeover`, JSON.stringify({ pid: dead, hostname: hostname(), clientId: 'taker', at: Date.now() }));
    await open(path, { clientId: 'client-2' });
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, clientId: 'client-2' });
    expect((await readdir(dir)).sort()).toEqual(['cg.json.lock']);
  });

  it('gives the lock to exactly one of several processes racing for it, free, stale or empty', async () => {
    const dir = await tempDir();
    racers.push(...(await Promise.all(Array.from({ length: 4 }, () => startRacer()))));
    const dead = await deadPid();
    for (let round = 0; round < 12; round++) {
      const path = join(dir, `cg-${round}.json`);
      // Free; left by a dead process; empty (a lock torn by a crash, or written by an older version).
      if (round % 3 === 1) await writeFile(`${path}.lock`, JSON.stringify({ pid: dead, hostname: hostname(), clientId: 'dead', at: Date.now() }));
      if (round % 3 === 2) await writeFile(`${path}.lock`, '');
      const answers = await Promise.all(racers.map((racer) => racer.open(path)));
      const winners = racers.filter((_, i) => answers[i]!.startsWith('acquired'));
      expect(answers.filter((answer) => !answer.startsWith('acquired')), `round ${round}`).toEqual(Array.from({ length: racers.length - 1 }, () => `refused ${path} OFFSET_STORE_LOCKED`));
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(JSON.parse(await readFile(`${path}.lock`, 'utf8'))).toMatchObject({ pid: winners[0]!.pid });
    }
    // No temp or moved-aside file stays behind.
    expect((await readdir(dir)).filter((name) => !name.endsWith('.lock'))).toEqual([]);
  });
});

describe('broadcast settings', () => {
  it('builds a stable per-instance, per-group path and validates the options', () => {
    expect(broadcastSettingsOf('cg', {})).toBeUndefined();
    expect(broadcastSettingsOf('cg', { messageModel: 'broadcasting', offsetStoreDir: '/var/lib/app/offsets', instanceName: 'node-1' })).toEqual({
      instanceName: 'node-1',
      offsetFile: '/var/lib/app/offsets/node-1/cg.json',
    });
    const defaults = broadcastSettingsOf('cg', { messageModel: 'broadcasting' })!;
    expect(defaults.instanceName).toBe(defaultInstanceName());
    expect(defaults.offsetFile).toBe(join(defaultOffsetStoreDir(), defaultInstanceName(), 'cg.json'));
    expect(defaultInstanceName()).toMatch(/^[A-Za-z0-9._-]+$/);

    const invalid = (options: Parameters<typeof broadcastSettingsOf>[1]) => expect(() => broadcastSettingsOf('cg', options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as Error);
    invalid({ messageModel: 'BROADCASTING' as never });
    invalid({ messageModel: 'broadcasting', instanceName: '../etc' });
    invalid({ messageModel: 'broadcasting', instanceName: '..' });
    invalid({ messageModel: 'broadcasting', instanceName: '' });
    invalid({ messageModel: 'broadcasting', offsetStoreDir: '' });
    invalid({ messageModel: 'broadcasting', retryMode: 'broker' });
    invalid({ offsetStoreDir: '/tmp/x' });
  });
});
