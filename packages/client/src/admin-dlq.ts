import type {
  BrokerLiveInfo, DlqListResponseHeader, DlqMessageInfo, DlqPurgeResponseHeader, DlqResendResponseHeader, DlqResendTarget, Frame, FrameHeader,
} from '@litemq/protocol';
import { RemoteError, RequestCode, RpcClient, expectSuccess, validateGroupName } from '@litemq/protocol';
import type { AdminOptions } from './admin.js';
import { Admin } from './admin.js';
import { clientClosed, invalidOptions } from './errors.js';
import { silentClientLogger } from './logger.js';
import { checkInteger } from './util.js';

export type { DlqMessageInfo, DlqResendTarget } from '@litemq/protocol';

export interface DlqTarget {
  /** Only this broker (by brokerName). Default: every master. */
  brokerName?: string;
  signal?: AbortSignal;
}

/** A dead letter with its body. */
export interface DlqMessage extends DlqMessageInfo {
  body: Buffer;
}

/**
 * Dead-letter administration of a consumer group over every broker master: list (original topic, attempts,
 * last error, history, times), show one message with its body, re-send to the group's retry topic or to the
 * original topic, and purge.
 *
 *   const dlq = new DlqAdmin({ nameServers: ['127.0.0.1:9876'] });
 *   for (const m of await dlq.list('orders-group')) console.log(m.msgId, m.originTopic, m.attempts, m.lastError);
 *   await dlq.resend('orders-group', [msgId]);            // back to the group, with a fresh retry budget
 *   await dlq.purge('orders-group');                       // hide them all
 */
export class DlqAdmin implements AsyncDisposable {
  private readonly admin: Admin;
  private readonly rpc: RpcClient;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(options: AdminOptions) {
    if (typeof options !== 'object' || options === null) throw invalidOptions('DlqAdmin options are required');
    this.admin = new Admin(options);
    this.timeoutMs = checkInteger('requestTimeoutMs', options.requestTimeoutMs, 5000, 1);
    this.rpc = new RpcClient({ logger: options.logger ?? silentClientLogger });
  }

  private check(group: string): void {
    if (this.closed) throw clientClosed('dlq admin');
    validateGroupName(group);
  }

  private async masters(target: DlqTarget = {}): Promise<BrokerLiveInfo[]> {
    const info = await this.admin.clusterInfo({ signal: target.signal });
    const masters = info.brokers.filter((b) => b.brokerId === 0).sort((a, b) => (a.brokerName < b.brokerName ? -1 : 1));
    const chosen = target.brokerName === undefined ? masters : masters.filter((b) => b.brokerName === target.brokerName);
    if (chosen.length === 0) throw invalidOptions(target.brokerName === undefined ? 'no broker master is registered' : `no broker master named ${target.brokerName}`);
    return chosen;
  }

  private async request(address: string, code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame> {
    return expectSuccess(await this.rpc.request(address, code, header, undefined, { timeoutMs: this.timeoutMs, signal }));
  }

  /** Dead letters of `group` on every master (or one), oldest first per broker. */
  async list(group: string, options: DlqTarget & { limit?: number } = {}): Promise<DlqMessageInfo[]> {
    this.check(group);
    const limit = checkInteger('limit', options.limit, 1000, 1, 100_000);
    const out: DlqMessageInfo[] = [];
    for (const broker of await this.masters(options)) {
      const header = (await this.request(broker.brokerAddr, RequestCode.DLQ_LIST, { group, limit }, options.signal)).header as unknown as DlqListResponseHeader;
      out.push(...header.messages);
    }
    return out.slice(0, limit);
  }

  /** One dead letter with its body, or undefined when no broker has it. */
  async show(group: string, msgId: string, target: DlqTarget = {}): Promise<DlqMessage | undefined> {
    this.check(group);
    for (const broker of await this.masters(target)) {
      try {
        const frame = await this.request(broker.brokerAddr, RequestCode.DLQ_GET, { group, msgId }, target.signal);
        return { ...(frame.header.message as unknown as DlqMessageInfo), body: frame.body ?? Buffer.alloc(0) };
      } catch (error) {
        if (!(error instanceof RemoteError)) throw error;
      }
    }
    return undefined;
  }

  /**
   * Re-publishes dead letters (every one when `msgIds` is empty) to the group's retry topic (`RETRY`, default:
   * only this group gets them again, with a fresh retry budget) or to their original topic (`ORIGIN`: every group
   * subscribed to it). The dead letters stay listed until purged.
   */
  async resend(group: string, msgIds: readonly string[] = [], options: DlqTarget & { to?: DlqResendTarget } = {}): Promise<{ resent: string[]; notFound: string[] }> {
    this.check(group);
    const to = options.to ?? 'RETRY';
    if (to !== 'RETRY' && to !== 'ORIGIN') throw invalidOptions(`to must be RETRY or ORIGIN, got ${JSON.stringify(to)}`);
    const resent = new Set<string>();
    const missing = new Set<string>(msgIds);
    for (const broker of await this.masters(options)) {
      const header = (await this.request(broker.brokerAddr, RequestCode.DLQ_RESEND, { group, msgIds: [...msgIds], target: to }, options.signal)).header as unknown as DlqResendResponseHeader;
      for (const id of header.resent) {
        resent.add(id);
        missing.delete(id);
      }
    }
    return { resent: [...resent], notFound: [...missing] };
  }

  /** Hides dead letters (every one when `msgIds` is empty) from list/show/resend; returns how many. */
  async purge(group: string, msgIds: readonly string[] = [], target: DlqTarget = {}): Promise<number> {
    this.check(group);
    let purged = 0;
    for (const broker of await this.masters(target)) {
      purged += ((await this.request(broker.brokerAddr, RequestCode.DLQ_PURGE, { group, msgIds: [...msgIds] }, target.signal)).header as unknown as DlqPurgeResponseHeader).purged;
    }
    return purged;
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
