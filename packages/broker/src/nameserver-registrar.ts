import type { Logger } from 'pino';
import type { RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader } from '@litemq/protocol';
import { RequestCode, RpcClient, expectSuccess } from '@litemq/protocol';

export interface RegistrationOutcome {
  nameServer: string;
  ok: boolean;
  error?: string;
}

/**
 * Registers the broker with every NameServer on start, every interval and right after topic changes.
 * Each NameServer is contacted independently: one that is down or slow delays nobody else.
 */
export class NameServerRegistrar {
  private readonly rpc: RpcClient;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RegistrationOutcome[]> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly nameServers: readonly string[],
    private readonly header: () => RegisterBrokerRequestHeader,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.rpc = new RpcClient({ connectTimeoutMs: timeoutMs, logger });
  }

  /** Registers now and then every interval. */
  start(): Promise<RegistrationOutcome[]> {
    if (this.nameServers.length === 0) return Promise.resolve([]);
    this.timer = setInterval(() => void this.registerSoon(), this.intervalMs);
    this.timer.unref();
    return this.registerSoon();
  }

  /** Registers as soon as possible; calls made while a registration runs are coalesced into one more. */
  registerSoon(): Promise<RegistrationOutcome[]> {
    if (this.stopped || this.nameServers.length === 0) return Promise.resolve([]);
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.registerAll().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.registerSoon();
      }
    });
    return this.running;
  }

  private registerAll(): Promise<RegistrationOutcome[]> {
    const header = this.header();
    return Promise.all(this.nameServers.map((address) => this.send(address, RequestCode.REGISTER_BROKER, header)));
  }

  private async send(nameServer: string, code: number, header: RegisterBrokerRequestHeader | UnregisterBrokerRequestHeader): Promise<RegistrationOutcome> {
    try {
      expectSuccess(await this.rpc.request(nameServer, code, header, undefined, { timeoutMs: this.timeoutMs }));
      return { nameServer, ok: true };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn({ nameServer, err: error, code }, code === RequestCode.REGISTER_BROKER ? 'registration with a NameServer failed' : 'unregistration from a NameServer failed');
      return { nameServer, ok: false, error: message };
    }
  }

  /** Stops re-registering, waits for a registration in flight, unregisters from every NameServer and closes connections. */
  async stop(unregister: UnregisterBrokerRequestHeader): Promise<RegistrationOutcome[]> {
    this.stopped = true;
    this.again = false;
    clearInterval(this.timer);
    await this.running;
    const outcomes = await Promise.all(this.nameServers.map((address) => this.send(address, RequestCode.UNREGISTER_BROKER, unregister)));
    await this.rpc.close();
    return outcomes;
  }
}
