import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

async function example(name: string, nameServer: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--conditions=@litemq/source', '--import', 'tsx', `examples/${name}`], {
    cwd: root,
    env: { ...process.env, LITEMQ_NAMESRV: nameServer },
    timeout: 60_000,
  });
  return stdout;
}

describe('examples/ against a standalone broker', () => {
  it('produce, consume, simple-consumer and batch-and-order run as documented', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const server = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn']);
    const nameServer = String((await waitReady(server)).nameServer);
    expect((await example('produce.ts', nameServer)).match(/^sent /gm)).toHaveLength(10);
    const consumed = (await example('consume.ts', nameServer)).trim().split('\n');
    expect(consumed.map((line) => line.split(' ').slice(-2).join(' ')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `order ${i}`).sort());
    const popped = (await example('simple-consumer.ts', nameServer)).trim().split('\n');
    expect(popped.map((line) => line.split(' ').slice(-2).join(' ')).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `order ${i}`).sort());
    expect(popped.every((line) => line.startsWith('attempt 1 '))).toBe(true);
    const ordered = await example('batch-and-order.ts', nameServer);
    const queues = [...ordered.matchAll(/customer-7 \w+ → queue (\d+)/g)].map((match) => match[1]);
    expect(queues).toHaveLength(3);
    expect(new Set(queues).size).toBe(1);
  });
});
