import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { Broker } from '@litemq/broker';
import { NameServer } from '@litemq/nameserver';
import type { LiteMQConfig } from '../config/schema.js';

export function startNameServer(config: LiteMQConfig, logger: Logger): Promise<NameServer> {
  const { host, port, brokerExpiryMs, scanIntervalMs } = config.nameserver;
  return NameServer.start({ host, port, brokerExpiryMs, scanIntervalMs, logger: logger.child({ component: 'nameserver' }) });
}

export function startBroker(config: LiteMQConfig, logger: Logger, nameServers = config.broker.nameServers): Promise<Broker> {
  const { store, dataDir, ...broker } = config.broker;
  return Broker.start({
    ...broker,
    dataDir: resolve(dataDir),
    nameServers,
    store: { ...store },
    logger: logger.child({ component: 'broker' }),
  });
}
