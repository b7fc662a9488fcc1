import type { Frame, PullResponseHeader, RpcConnection, RpcHandler, RpcReply, SqlFilter } from '@litemq/protocol';
import { ResponseCode, TopicPerm, rpcFailure } from '@litemq/protocol';
import type { ReadResult } from '@litemq/storage';
import type { BrokerContext } from '../broker-context.js';
import { clampOffset, requireTopic } from '../broker-context.js';
import type { WakeReason } from '../long-polling-service.js';
import { PullSqlFilters } from '../pull-sql-filter.js';
import { arrayField, checkInt, consumerGroupField, intField, optionalIntField, optionalStringField, topicField } from '../request-fields.js';

interface PullArgs {
  group: string;
  topic: string;
  queueId: number;
  offset: number;
  maxCount: number;
  maxBytes: number;
  tagHashes: ReadonlySet<number> | undefined;
  /** SQL property filter: records it rejects are dropped from the response. */
  sql: SqlFilter | undefined;
}

/** Reads skipped in one request when a tag filter matches nothing, before answering with the moved offset. */
const MAX_FILTERED_READS = 8;

function pullReply(code: number, nextOffset: number, minOffset: number, maxOffset: number, count = 0, records?: Buffer): RpcReply {
  const header: PullResponseHeader = { nextOffset, minOffset, maxOffset, count };
  return { code, header, body: records };
}

/**
 * PULL_MESSAGE with long polling: records come back as raw slices of the log. With nothing new and
 * `suspendMs` > 0 the request is held until a message arrives on the queue (answered within
 * milliseconds) or min(suspendMs, longPollingMaxMs) passes (PULL_NOT_FOUND). Response bytes queued or
 * being read per connection are bounded, so a slow consumer cannot grow broker memory without bound.
 */
export function pullMessageProcessor(context: BrokerContext): RpcHandler {
  const { maxPullBytes, maxPullCount, longPollingMaxMs, maxQueuedPullBytesPerConnection } = context.options;
  /** Bytes of pull responses being read per connection (not yet in its socket buffer). */
  const reading = new Map<RpcConnection, number>();
  const sqlFilters = new PullSqlFilters();

  function parse(request: Frame): PullArgs & { suspendMs: number; commitOffset: number } {
    const header = request.header;
    const tagHashes = arrayField(header, 'tagHashes');
    const sql = optionalStringField(header, 'sql');
    return {
      group: consumerGroupField(header),
      topic: topicField(header),
      queueId: intField(header, 'queueId', 0, 65_535),
      offset: intField(header, 'offset'),
      maxCount: Math.min(intField(header, 'maxCount', 1), maxPullCount),
      maxBytes: Math.min(optionalIntField(header, 'maxBytes', maxPullBytes, 1), maxPullBytes),
      tagHashes: tagHashes.length > 0 ? new Set(tagHashes.map((hash, i) => checkInt(hash, `tagHashes[${i}]`, 0, 0xffff_ffff))) : undefined,
      suspendMs: optionalIntField(header, 'suspendMs', 0),
      commitOffset: optionalIntField(header, 'commitOffset', -1, -1),
      sql: sql === undefined || sql.trim() === '' ? undefined : sqlFilters.get(sql),
    };
  }

  async function read(args: PullArgs, connection: RpcConnection): Promise<ReadResult> {
    const inFlight = reading.get(connection) ?? 0;
    if ((inFlight > 0 || connection.queuedBytes > 0) && inFlight + connection.queuedBytes + args.maxBytes > maxQueuedPullBytesPerConnection) {
      throw rpcFailure(ResponseCode.SYSTEM_BUSY, `consumer connection ${connection.remoteAddress} is reading too slowly (${connection.queuedBytes} bytes queued); retry later`);
    }
    reading.set(connection, inFlight + args.maxBytes);
    try {
      return await context.store.read(args.topic, args.queueId, args.offset, { maxCount: args.maxCount, maxBytes: args.maxBytes, tagHashes: args.tagHashes });
    } finally {
      const left = (reading.get(connection) ?? args.maxBytes) - args.maxBytes;
      if (left > 0) reading.set(connection, left);
      else reading.delete(connection);
    }
  }

  /** One pull attempt; holds the request (deadline > now) when there is nothing new. */
  async function pull(args: PullArgs, connection: RpcConnection, deadline: number): Promise<RpcReply> {
    for (let reads = 0; ; reads++) {
      const result = await read(args, connection);
      if (result.status === 'FOUND' && args.sql) {
        const kept = sqlFilters.apply(args.sql, result.records, result.count);
        result.records = kept.records;
        result.count = kept.count;
        if (kept.count === 0) result.status = 'NO_MATCHED_MESSAGE';
      }
      switch (result.status) {
        case 'FOUND':
          return pullReply(ResponseCode.SUCCESS, result.nextOffset, result.minOffset, result.maxOffset, result.count, result.records);
        case 'OFFSET_TOO_SMALL':
          return pullReply(ResponseCode.PULL_OFFSET_MOVED, result.nextOffset, result.minOffset, result.maxOffset);
        case 'OFFSET_OVERFLOW':
          // Queue entries become readable just behind the append, so an offset a little past the
          // readable end may be about to appear: a long poll waits for it (and on timeout, the
          // final read answers PULL_OFFSET_MOVED if it really is out of range).
          if (deadline > Date.now() && !context.closing) return hold(args, connection, deadline, deadline - Date.now());
          return pullReply(ResponseCode.PULL_OFFSET_MOVED, result.nextOffset, result.minOffset, result.maxOffset);
        case 'NO_QUEUE':
          // The queue has never been written: only offset 0 is valid.
          if (args.offset > 0) return pullReply(ResponseCode.PULL_OFFSET_MOVED, 0, 0, 0);
          break;
        case 'NO_MATCHED_MESSAGE':
          // Everything read was filtered out: move past it, and keep reading while there is more. At the end,
          // answer now rather than hold: the consumer learns the new offset and can commit it (RocketMQ's
          // PULL_RETRY_IMMEDIATELY), so a group whose filter rejects the tail of a queue shows no false lag.
          args.offset = result.nextOffset;
          if (result.nextOffset < result.maxOffset && reads + 1 < MAX_FILTERED_READS) continue;
          return pullReply(ResponseCode.PULL_NOT_FOUND, result.nextOffset, result.minOffset, result.maxOffset);
        case 'NO_NEW_MESSAGE':
          break;
      }
      const waitMs = deadline - Date.now();
      if (waitMs > 0 && !context.closing) return hold(args, connection, deadline, waitMs);
      return pullReply(ResponseCode.PULL_NOT_FOUND, args.offset, result.minOffset, result.maxOffset);
    }
  }

  function hold(args: PullArgs, connection: RpcConnection, deadline: number, waitMs: number): Promise<RpcReply> {
    return new Promise<RpcReply>((resolve, reject) => {
      const wake = (reason: WakeReason): void => {
        if (reason === 'closed') {
          resolve(pullReply(ResponseCode.PULL_NOT_FOUND, args.offset, 0, 0)); // nobody will read it
          return;
        }
        // On arrival, read again (and hold again if a tag filter skipped everything); otherwise answer now.
        pull(args, connection, reason === 'arrival' ? deadline : 0).then(resolve, reject);
      };
      const held = context.longPolling.hold({ topic: args.topic, queueId: args.queueId, offset: args.offset, connection, wake }, waitMs);
      if (!held) {
        reject(rpcFailure(ResponseCode.SYSTEM_BUSY, `connection ${connection.remoteAddress} already holds ${context.options.maxHeldPullsPerConnection} long polls`));
        return;
      }
      // A message may have landed while the read was in flight: its notification found nobody waiting.
      const range = context.store.queueOffsets(args.topic, args.queueId);
      if (range && range.maxOffset > args.offset) context.longPolling.messagesAvailable(args.topic, args.queueId, range.maxOffset);
    });
  }

  return (request: Frame, connection: RpcConnection): Promise<RpcReply> => {
    const args = parse(request);
    context.consumers.assertConsumeType(args.group, 'PUSH');
    const config = requireTopic(context, args.topic);
    if ((config.perm & TopicPerm.READ) === 0) throw rpcFailure(ResponseCode.NO_PERMISSION, `topic ${args.topic} is not readable on broker ${context.options.brokerName}`);
    if (args.queueId >= config.readQueueNums) {
      throw rpcFailure(ResponseCode.INVALID_REQUEST, `queue id ${args.queueId} is out of range; topic ${args.topic} has ${config.readQueueNums} read queues`);
    }
    if (args.commitOffset >= 0) context.offsets.commit(args.group, args.topic, args.queueId, clampOffset(context, args.topic, args.queueId, args.commitOffset));
    const deadline = args.suspendMs > 0 ? Date.now() + Math.min(args.suspendMs, longPollingMaxMs) : 0;
    return pull(args, connection, deadline);
  };
}
