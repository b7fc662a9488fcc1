import type { Command } from 'commander';
import { announceReady, createLogger } from '../logger.js';
import { onShutdownSignal } from '../lifecycle.js';
import type { ServerFlags } from './server-options.js';
import { addServerFlags, resolveServerConfig } from './server-options.js';
import { startBroker, startNameServer } from './start-servers.js';

/** `litemq standalone`: a NameServer and a broker in one process, data in ./data — the zero-config start. */
export function registerStandalone(program: Command): void {
  addServerFlags(program.command('standalone').description('run a NameServer and a broker in one process (data in ./data)'))
    .option('-p, --port <port>', 'broker port (broker.port)')
    .option('--namesrv-port <port>', 'NameServer port (nameserver.port)')
    .action(async (flags: ServerFlags & { namesrvPort?: string }) => {
      const settings = flags.namesrvPort === undefined ? [] : [`nameserver.port=${flags.namesrvPort}`];
      const config = await resolveServerConfig({ ...flags, set: [...(flags.set ?? []), ...settings] }, { broker: { autoCreateTopic: true } }, 'broker.port');
      const logger = createLogger(config.log.level);
      const nameServer = await startNameServer(config, logger);
      const broker = await startBroker(config, logger, [nameServer.address]);
      onShutdownSignal(logger, async () => {
        await broker.close();
        await nameServer.close();
      });
      announceReady({ mode: 'standalone', nameServer: nameServer.address, broker: broker.address, dataDir: config.broker.dataDir });
    });
}

export function registerNameServer(program: Command): void {
  addServerFlags(program.command('nameserver').description('run a NameServer'))
    .option('-p, --port <port>', 'NameServer port (nameserver.port)')
    .action(async (flags: ServerFlags) => {
      const config = await resolveServerConfig(flags, {}, 'nameserver.port');
      const logger = createLogger(config.log.level);
      const nameServer = await startNameServer(config, logger);
      onShutdownSignal(logger, () => nameServer.close());
      announceReady({ mode: 'nameserver', nameServer: nameServer.address });
    });
}

export function registerBroker(program: Command): void {
  addServerFlags(program.command('broker').description('run a broker that registers with the configured NameServers'))
    .option('-p, --port <port>', 'broker port (broker.port)')
    .action(async (flags: ServerFlags) => {
      const config = await resolveServerConfig(flags, {}, 'broker.port');
      const logger = createLogger(config.log.level);
      const broker = await startBroker(config, logger);
      onShutdownSignal(logger, () => broker.close());
      announceReady({ mode: 'broker', broker: broker.address, nameServers: config.broker.nameServers });
    });
}
