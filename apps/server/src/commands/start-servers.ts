import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Broker } from '@litemq/broker';
import { NameServer } from '@litemq/nameserver';
import type { LiteMQConfig } from '../config/schema.js';

export function startNameServer(config: LiteMQConfig, logger: Logger): Promise<NameServer> {
  const { host, port, brokerExpiryMs, scanIntervalMs } = config.nameserver;
  return NameServer.start({ host, port, brokerExpiryMs, scanIntervalMs, logger: logger.child({ component: 'nameserver' }) });
}

/** Starts a broker; Broker.start returns after its first registration, so "ready" means clients can route to it. */
export function startBroker(config: LiteMQConfig, logger: Logger, nameServers = config.broker.nameServers): Promise<Broker> {
  const { store, dataDir, ...options } = config.broker;
  return Broker.start({
    ...options,
    dataDir: resolve(dataDir),
    nameServers,
    store: { ...store },
    logger: logger.child({ component: 'broker' }),
  });
}
