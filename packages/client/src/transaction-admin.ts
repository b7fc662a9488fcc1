import type { BrokerLiveInfo, Frame, FrameHeader, PendingTransactionInfo, TransactionResolution } from '@litemq/protocol';
import { RemoteError, RequestCode, ResponseCode, validateGroupName, validateTopicName } from '@litemq/protocol';
import { ClientError, ClientErrorCode, invalidOptions } from './errors.js';
import { checkInteger } from './util.js';

export interface ListPendingTransactionsOptions {
  /** Per broker, oldest first. Default 100 (max 1000). */
  limit?: number;
  producerGroup?: string;
  topic?: string;
  signal?: AbortSignal;
}

export interface PendingTransaction extends PendingTransactionInfo {
  brokerName: string;
}

export interface PendingTransactions {
  /** Pending halves over all brokers (may exceed `transactions.length`). */
  total: number;
  transactions: PendingTransaction[];
}

export interface ForceEndResult {
  brokerName: string;
  halfOffset: number;
  msgId: string;
  outcome: TransactionResolution | 'UNKNOWN';
  applied: boolean;
}

export interface AdminBrokers {
  masters(signal?: AbortSignal): Promise<BrokerLiveInfo[]>;
  brokerRequest(address: string, code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame>;
}

export async function listPendingTransactions(admin: AdminBrokers, options: ListPendingTransactionsOptions = {}): Promise<PendingTransactions> {
  const limit = checkInteger('limit', options.limit, 100, 1, 1000);
  if (options.producerGroup !== undefined) validateGroupName(options.producerGroup);
  if (options.topic !== undefined) validateTopicName(options.topic);
  const header: FrameHeader = {
    limit,
    ...(options.producerGroup === undefined ? {} : { producerGroup: options.producerGroup }),
    ...(options.topic === undefined ? {} : { topic: options.topic }),
  };
  const masters = await admin.masters(options.signal);
  let total = 0;
  const transactions: PendingTransaction[] = [];
  await Promise.all(
    masters.map(async (m) => {
      const frame = await admin.brokerRequest(m.brokerAddr, RequestCode.LIST_PENDING_TRANSACTIONS, header, options.signal);
      const list = frame.header.transactions;
      if (!Array.isArray(list)) throw new ClientError(ClientErrorCode.BAD_RESPONSE, `LIST_PENDING_TRANSACTIONS from ${m.brokerName} answered without transactions`);
      total += typeof frame.header.total === 'number' ? frame.header.total : 0;
      for (const entry of list as unknown as PendingTransactionInfo[]) transactions.push({ ...entry, brokerName: m.brokerName });
    }),
  );
  transactions.sort((a, b) => b.ageMs - a.ageMs);
  return { total, transactions };
}

/** Commits or rolls back the pending transaction of `msgId` on whichever broker master holds it. */
export async function forceEndTransaction(admin: AdminBrokers, msgId: string, resolution: TransactionResolution, options: { brokerName?: string; signal?: AbortSignal } = {}): Promise<ForceEndResult> {
  if (typeof msgId !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(msgId)) throw invalidOptions(`msgId must be 32 hex digits, got ${JSON.stringify(msgId)}`);
  let masters = await admin.masters(options.signal);
  if (options.brokerName !== undefined) masters = masters.filter((m) => m.brokerName === options.brokerName);
  if (masters.length === 0) throw new ClientError(ClientErrorCode.NO_ROUTE, 'no broker master to ask', { retriable: true });
  let found: ForceEndResult | undefined;
  let notFound: unknown;
  await Promise.all(
    masters.map(async (m) => {
      try {
        const frame = await admin.brokerRequest(m.brokerAddr, RequestCode.FORCE_END_TRANSACTION, { msgId, resolution }, options.signal);
        const h = frame.header;
        found = { brokerName: m.brokerName, halfOffset: h.halfOffset as number, msgId: h.msgId as string, outcome: h.outcome as ForceEndResult['outcome'], applied: h.applied === true };
      } catch (error) {
        if (error instanceof RemoteError && error.responseCode === ResponseCode.TRANSACTION_NOT_FOUND) notFound = error;
        else throw error;
      }
    }),
  );
  if (found) return found;
  throw notFound ?? new ClientError(ClientErrorCode.BAD_RESPONSE, `no broker answered for transaction ${msgId}`);
}
