import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Broker } from '@litemq/broker';
import { NameServer } from '@litemq/nameserver';
import type { LiteMQConfig } from '../config/schema.js';

export function startNameServer(config: LiteMQConfig, logger: Logger): Promise<NameServer> {
  const { host, port, brokerExpiryMs, scanIntervalMs } = config.nameserver;
  return NameServer.start({ host, port, brokerExpiryMs, scanIntervalMs, logger: logger.child({ component: 'nameserver' }) });
}

/** Starts a broker and waits for its first registration, so "ready" means clients can route to it. */
export async function startBroker(config: LiteMQConfig, logger: Logger, nameServers = config.broker.nameServers): Promise<Broker> {
  const { store, dataDir, ...options } = config.broker;
  const broker = await Broker.start({
    ...options,
    dataDir: resolve(dataDir),
    nameServers,
    store: { ...store },
    logger: logger.child({ component: 'broker' }),
  });
  const outcomes = await broker.registerNow();
  for (const outcome of outcomes) {
    if (!outcome.ok) logger.warn({ nameServer: outcome.nameServer, err: outcome.error }, 'first registration failed; retrying every registerIntervalMs');
  }
  return broker;
}
