import type { Command } from 'commander';
import type { LiteMQConfig } from '../config/schema.js';
import { configFromSettings, loadConfig } from '../config/load-config.js';

export interface ServerFlags {
  config?: string;
  set?: string[];
  port?: string;
  dataDir?: string;
  namesrv?: string;
  logLevel?: string;
}

/** Flags every server command shares. */
export function addServerFlags(command: Command): Command {
  return command
    .option('-c, --config <file>', 'TOML configuration file')
    .option('--set <key=value>', 'override one setting, e.g. --set broker.store.flushMode=sync (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--data-dir <dir>', 'broker data directory (broker.dataDir)')
    .option('--namesrv <addresses>', 'NameServer addresses, comma-separated (broker.nameServers)')
    .option('--log-level <level>', 'log level (log.level)');
}

/** Loads the config: command defaults < file < LITEMQ_* env < --set and the shortcut flags. */
export function resolveServerConfig(flags: ServerFlags, defaults: Record<string, unknown>, portKey: string): Promise<LiteMQConfig> {
  const settings = [...(flags.set ?? [])];
  if (flags.port !== undefined) settings.push(`${portKey}=${flags.port}`);
  if (flags.dataDir !== undefined) settings.push(`broker.dataDir=${flags.dataDir}`);
  if (flags.namesrv !== undefined) settings.push(`broker.nameServers=${flags.namesrv}`);
  if (flags.logLevel !== undefined) settings.push(`log.level=${flags.logLevel}`);
  return loadConfig({ file: flags.config, env: process.env, defaults, flags: configFromSettings(settings) });
}
