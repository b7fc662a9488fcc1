import type { Frame, FrameHeader, LockBatchResponseHeader, LockQueue, RpcHandler, RpcReply, UnlockBatchResponseHeader } from '@litemq/protocol';
import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { queueLocksOf } from '../queue-lock-manager.js';
import { QueueLockMarker } from '../queue-lock-marker.js';
import { arrayField, checkInt, groupField, stringField, topicField } from '../request-fields.js';

/** Most queues one lock or unlock request may name. */
const MAX_QUEUES_PER_REQUEST = 4096;

function queuesField(request: Frame): LockQueue[] {
  const queues = arrayField(request.header, 'queues');
  if (queues.length > MAX_QUEUES_PER_REQUEST) throw rpcFailure(ResponseCode.INVALID_REQUEST, `at most ${MAX_QUEUES_PER_REQUEST} queues per request, got ${queues.length}`);
  return queues.map((value, i) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw rpcFailure(ResponseCode.INVALID_REQUEST, `queues[${i}] must be a map`);
    const queue = value as FrameHeader;
    return { topic: topicField(queue), queueId: checkInt(queue.queueId, `queues[${i}].queueId`, 0, 65_535) };
  });
}

/**
 * LOCK_BATCH_MQ: locks or renews queues of an orderly group for one client; answers the queues it owns now (none
 * during the lock table's start-up grace period, queue-lock-manager.ts).
 */
export function lockBatchProcessor(context: BrokerContext): RpcHandler {
  // Created now, at broker start, so the grace period runs from the start and not from the first request; the
  // marker then shortens it to what may remain of leases granted before a restart (none: no grace).
  const locks = queueLocksOf(context);
  const marker = QueueLockMarker.load(context.options.dataDir, locks.leaseMs).then(({ marker, graceMs }) => {
    locks.restartGrace(graceMs);
    return marker;
  });
  marker.catch(() => undefined); // a failed load fails each LOCK request instead (below), never the process
  return async (request: Frame): Promise<RpcReply> => {
    const group = groupField(request.header);
    const clientId = stringField(request.header, 'clientId');
    const queues = queuesField(request);
    // The marker must cover a lease before it is granted: a broker restarted right after must still honour it.
    if (queues.length > 0) await (await marker).cover();
    const reply: LockBatchResponseHeader = { locked: locks.lock(group, clientId, queues), leaseMs: locks.leaseMs };
    return { header: reply };
  };
}

/** UNLOCK_BATCH_MQ: releases the queue locks the client owns (another client's locks are left alone). */
export function unlockBatchProcessor(context: BrokerContext): RpcHandler {
  return (request: Frame): RpcReply => {
    const group = groupField(request.header);
    const clientId = stringField(request.header, 'clientId');
    const reply: UnlockBatchResponseHeader = { unlocked: queueLocksOf(context).unlock(group, clientId, queuesField(request)) };
    return { header: reply };
  };
}
