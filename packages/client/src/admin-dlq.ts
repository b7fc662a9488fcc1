import type {
  DlqListResponseHeader, DlqMessageInfo, DlqPurgeResponseHeader, DlqResendResponseHeader, DlqResendTarget,
} from '@litemq/protocol';
import { RemoteError, RequestCode, validateGroupName } from '@litemq/protocol';
import type { AdminOptions } from './admin.js';
import { BrokerAdminBase } from './broker-admin-base.js';
import { checkInteger } from './util.js';
import type { BrokerTarget } from './broker-admin-base.js';
import { invalidOptions } from './errors.js';

export type { DlqMessageInfo, DlqResendTarget } from '@litemq/protocol';

/** Only this broker (by brokerName); default: every master. */
export type DlqTarget = BrokerTarget;

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
 *   const dead = await dlq.list('orders-group'); // msgId, originTopic, attempts, lastError, history...
 *   await dlq.resend('orders-group', [msgId]);            // back to the group, with a fresh retry budget
 *   await dlq.purge('orders-group');                       // hide them all
 */
export class DlqAdmin extends BrokerAdminBase {
  constructor(options: AdminOptions) {
    super(options, 'dlq admin');
  }

  private check(group: string): void {
    this.assertOpen();
    validateGroupName(group);
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

}
