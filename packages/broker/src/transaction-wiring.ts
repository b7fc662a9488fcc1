import { join } from 'node:path';
import type { CheckTransactionStateRequestHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, expectSuccess, rpcFailure } from '@litemq/protocol';
import type { HalfInfo } from '@litemq/txn';
import { TransactionService } from '@litemq/txn';
import type { BrokerContext } from './broker-context.js';

const CHECK_TIMEOUT_MS = 3_000;
const services = new WeakMap<BrokerContext, TransactionService>();

/**
 * Opens the broker's TransactionService over its store (state in `<dataDir>/txn`) and wires check-backs to
 * the connections of live producers of the half's group (HEARTBEAT producerGroups), trying each in turn.
 */
export async function openTransactions(context: BrokerContext): Promise<TransactionService> {
  let next = 0;
  const checkBack = async (half: Buffer, info: HalfInfo): Promise<boolean> => {
    const connections = context.producers.connectionsOf(info.producerGroup);
    const header: CheckTransactionStateRequestHeader = { producerGroup: info.producerGroup, transactionId: info.transactionId, halfOffset: info.halfOffset, msgId: info.msgId };
    for (let i = 0; i < connections.length; i++) {
      const connection = connections[(next++ >>> 0) % connections.length]!;
      try {
        expectSuccess(await connection.request(RequestCode.CHECK_TRANSACTION_STATE, header, half, { timeoutMs: CHECK_TIMEOUT_MS }));
        return true;
      } catch (error) {
        context.logger.warn({ err: error, producerGroup: info.producerGroup, halfOffset: info.halfOffset }, 'check-back to a producer failed; trying another');
      }
    }
    return false;
  };
  const service = await TransactionService.open(context.store, {
    ...context.options.transaction,
    dir: join(context.options.dataDir, 'txn'),
    checkBack,
    logger: context.logger.child({ component: 'txn' }),
  });
  services.set(context, service);
  return service;
}

/** The transaction service of a broker (opened before the broker serves requests). */
export function transactionsOf(context: BrokerContext): TransactionService {
  const service = services.get(context);
  if (!service) throw rpcFailure(ResponseCode.SERVICE_NOT_AVAILABLE, `broker ${context.options.brokerName} is starting`);
  return service;
}
