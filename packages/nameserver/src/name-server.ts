import pino from 'pino';
import type { Logger } from 'pino';
import type { Frame } from '@litemq/protocol';
import { RequestCode, RpcServer } from '@litemq/protocol';
import type { NameServerOptions, ResolvedNameServerOptions } from './options.js';
import { resolveNameServerOptions } from './options.js';
import { parseGetRouteRequest, parseRegisterBrokerRequest, parseUnregisterBrokerRequest } from './request-validation.js';
import { RouteRegistry } from './route-registry.js';

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A NameServer: brokers register their topics with it, clients fetch topic routes and cluster info from it.
 * NameServers share nothing; brokers register with every one of them. Start with `NameServer.start`.
 */
export class NameServer {
  private scanTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: RpcServer,
    readonly registry: RouteRegistry,
    private readonly options: ResolvedNameServerOptions,
    private readonly logger: Logger,
    readonly port: number,
  ) {}

  /** Validates options (INVALID_OPTIONS), binds the port and starts the broker-expiry scan. */
  static async start(options: NameServerOptions = {}): Promise<NameServer> {
    const resolved = resolveNameServerOptions(options);
    const logger = resolved.logger ?? pino({ name: 'litemq-nameserver', level: 'warn' });
    const registry = new RouteRegistry({ brokerExpiryMs: resolved.brokerExpiryMs, defaultQueueNums: resolved.defaultQueueNums, logger });
    const server = new RpcServer({ logger });
    server
      .register(RequestCode.REGISTER_BROKER, (frame: Frame) => {
        registry.register(parseRegisterBrokerRequest(frame.header));
        return undefined;
      })
      .register(RequestCode.UNREGISTER_BROKER, (frame: Frame) => {
        registry.unregister(parseUnregisterBrokerRequest(frame.header));
        return undefined;
      })
      .register(RequestCode.GET_ROUTE, (frame: Frame) => ({ header: registry.route(parseGetRouteRequest(frame.header).topic) }))
      .register(RequestCode.GET_CLUSTER_INFO, () => ({ header: registry.clusterInfo() }));
    const port = await server.listen(resolved.port, resolved.host);
    const nameServer = new NameServer(server, registry, resolved, logger, port);
    nameServer.scanTimer = setInterval(() => nameServer.scan(), resolved.scanIntervalMs);
    nameServer.scanTimer.unref();
    logger.info({ address: nameServer.address, brokerExpiryMs: resolved.brokerExpiryMs, scanIntervalMs: resolved.scanIntervalMs }, 'nameserver started');
    return nameServer;
  }

  /** `host:port` clients and brokers connect to (`[v6]:port` for IPv6 hosts). */
  get address(): string {
    return formatAddress(this.options.host, this.port);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  private scan(): void {
    try {
      this.registry.expire(Date.now());
    } catch (error) {
      this.logger.error({ err: error }, 'broker expiry scan failed');
    }
  }

  /** Stops accepting connections, lets in-flight requests finish (up to closeGraceMs), then closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.scanTimer);
      this.scanTimer = undefined;
      await this.server.close(this.options.closeGraceMs);
      this.logger.info({ address: this.address }, 'nameserver closed');
    })();
    return this.closing;
  }
}
