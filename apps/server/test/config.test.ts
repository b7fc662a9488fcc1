import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromSettings, loadConfig } from '../src/config/load-config.js';

async function withFile(text: string, run: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'litemq-config-'));
  try {
    await writeFile(join(dir, 'litemq.toml'), text);
    await run(join(dir, 'litemq.toml'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('configuration', () => {
  it('has working defaults', async () => {
    const config = await loadConfig({});
    expect(config.broker.port).toBe(10911);
    expect(config.broker.store.flushMode).toBe('async');
    expect(config.nameserver.port).toBe(9876);
  });

  it('layers defaults < TOML < environment < flags', async () => {
    await withFile('[broker]\nport = 2000\ndataDir = "/tmp/x"\n[broker.store]\nflushMode = "sync"\n', async (file) => {
      const config = await loadConfig({
        file,
        defaults: { broker: { autoCreateTopic: true, port: 1000 } },
        env: { LITEMQ_BROKER_DATA_DIR: '/tmp/env', LITEMQ_BROKER_NAME_SERVERS: '127.0.0.1:1,127.0.0.1:2', PATH: '/bin' },
        flags: configFromSettings(['broker.port=3000']),
      });
      expect(config.broker.port).toBe(3000);
      expect(config.broker.dataDir).toBe('/tmp/env');
      expect(config.broker.store.flushMode).toBe('sync');
      expect(config.broker.autoCreateTopic).toBe(true);
      expect(config.broker.nameServers).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    });
  });

  it('names unknown keys and bad values', async () => {
    await withFile('[broker]\nprot = 1\n[broker.store]\nflushMode = "sometimes"\n', async (file) => {
      const error = (await loadConfig({ file }).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error & { code: string };
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain('"prot"');
      expect(error.message).toContain('broker.store.flushMode');
    });
    await expect(loadConfig({ env: { LITEMQ_BROKER_PROT: '1' } })).rejects.toThrow(/unknown environment variable LITEMQ_BROKER_PROT/);
    await expect(loadConfig({ env: { LITEMQ_BROKER_PORT: 'abc' } })).rejects.toThrow(/LITEMQ_BROKER_PORT: expected a number/);
    await expect(loadConfig({ env: { LITEMQ_BROKER_PORT: '70000' } })).rejects.toThrow(/broker.port/);
    expect(() => configFromSettings(['broker.nope=1'])).toThrow(/known key/);
    await withFile('[broker\nport=', async (file) => {
      await expect(loadConfig({ file })).rejects.toMatchObject({ code: 'CONFIG_UNREADABLE' });
    });
  });
});
