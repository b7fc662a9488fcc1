import type { BrokerLiveInfo, Frame, FrameHeader } from '@litemq/protocol';
import { RpcClient, expectSuccess } from '@litemq/protocol';
import type { AdminOptions } from './admin.js';
import { Admin } from './admin.js';
import { clientClosed, invalidOptions } from './errors.js';
import { silentClientLogger } from './logger.js';
import { checkInteger } from './util.js';

/** Which broker master a call goes to (default: every master, or the first by name, per call). */
export interface BrokerTarget {
  brokerName?: string;
  signal?: AbortSignal;
}

/**
 * What the feature admin clients (cron, DLQ) share: the cluster view from the NameServers, one RPC client to the
 * broker masters, a request timeout and close().
 */
export abstract class BrokerAdminBase implements AsyncDisposable {
  protected readonly admin: Admin;
  private readonly rpc: RpcClient;
  private readonly timeoutMs: number;
  private closed = false;

  protected constructor(
    options: AdminOptions,
    private readonly name: string,
  ) {
    if (typeof options !== 'object' || options === null) throw invalidOptions(`${name} options are required`);
    this.admin = new Admin(options);
    this.timeoutMs = checkInteger('requestTimeoutMs', options.requestTimeoutMs, 5000, 1);
    this.rpc = new RpcClient({ logger: options.logger ?? silentClientLogger });
  }

  protected assertOpen(): void {
    if (this.closed) throw clientClosed(this.name);
  }

  /** Broker masters sorted by name, or the one named by the target. */
  protected async masters(target: BrokerTarget = {}): Promise<BrokerLiveInfo[]> {
    const info = await this.admin.clusterInfo({ signal: target.signal });
    const masters = info.brokers.filter((b) => b.brokerId === 0).sort((a, b) => (a.brokerName < b.brokerName ? -1 : 1));
    const chosen = target.brokerName === undefined ? masters : masters.filter((b) => b.brokerName === target.brokerName);
    if (chosen.length === 0) throw invalidOptions(target.brokerName === undefined ? 'no broker master is registered' : `no broker master named ${target.brokerName}`);
    return chosen;
  }

  protected async request(address: string, code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame> {
    return expectSuccess(await this.rpc.request(address, code, header, undefined, { timeoutMs: this.timeoutMs, signal }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.admin.close(), this.rpc.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
