import { afterEach, describe, expect, it } from 'vitest';
import { killAll, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
});

describe('the litemq command', () => {
  it('sends and consumes by hand against a standalone broker, then stops gracefully on SIGTERM', async () => {
    const data = await tempDataDir();
    cleanups.push(data.remove);
    const server = startLiteMQ(['standalone', '--port', '0', '--namesrv-port', '0', '--data-dir', data.dir, '--log-level', 'warn']);
    const { nameServer } = await waitReady(server);
    const send = startLiteMQ(['send', '-n', String(nameServer), '-t', 'demo', '-b', 'hello', '--tags', 'greeting', '--keys', 'k1,k2', '--count', '3']);
    expect(await send.exited).toBe(0);
    expect(send.lines.map((line) => line.status)).toEqual(['SEND_OK', 'SEND_OK', 'SEND_OK']);

    const consume = startLiteMQ(['consume', '-n', String(nameServer), '-t', 'demo', '-g', 'readers', '-e', 'greeting', '--count', '3']);
    expect(await consume.exited).toBe(0);
    expect(consume.lines.map((line) => line.body)).toEqual(['hello', 'hello', 'hello']);
    expect(consume.lines[0]!.keys).toEqual(['k1', 'k2']);
    expect(new Set(consume.lines.map((line) => line.msgId))).toEqual(new Set(send.lines.map((line) => line.msgId)));

    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses to start on an unknown key or a bad value, naming it', async () => {
    const unknown = startLiteMQ(['broker', '--set', 'broker.prot=1']);
    expect(await unknown.exited).toBe(1);
    expect(unknown.stderr).toMatch(/broker\.prot/);
    const badEnv = startLiteMQ(['nameserver', '--port', '0'], { LITEMQ_NAMESERVER_BROKER_EXPIRY_MS: 'soon' });
    expect(await badEnv.exited).toBe(1);
    expect(badEnv.stderr).toMatch(/LITEMQ_NAMESERVER_BROKER_EXPIRY_MS: expected a number/);
    const badFlush = startLiteMQ(['broker', '--port', '0', '--set', 'broker.store.flushMode=sometimes']);
    expect(await badFlush.exited).toBe(1);
    expect(badFlush.stderr).toMatch(/CONFIG_INVALID/);
    expect(badFlush.stderr).toMatch(/broker\.store\.flushMode/);
  });
});
