import type { ConsumeFromWhere, Frame, FrameHeader, PopMessageResponseHeader, RpcConnection, RpcHandler, RpcReply } from '@litemq/protocol';
import { POP_MAX_COUNT, POP_MAX_INVISIBLE_MS, POP_MIN_INVISIBLE_MS, ResponseCode, rpcFailure, tagHash } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { delayOf } from '../delay-service.js';
import type { PopArgs, PopFilter, PopResult } from '../pop-service.js';
import { popOf } from '../pop-service.js';
import type { PopWakeReason } from '../pop-waiters.js';
import { PullSqlFilters } from '../pull-sql-filter.js';
import { arrayField, checkInt, consumerGroupField, intField, optionalIntField, optionalStringField, topicField } from '../request-fields.js';

const FROM_WHERE: readonly ConsumeFromWhere[] = ['LAST_OFFSET', 'FIRST_OFFSET', 'TIMESTAMP'];
const MAX_SUBSCRIPTIONS = 64;
const MAX_TAGS = 64;

function invalid(message: string): never {
  throw rpcFailure(ResponseCode.INVALID_REQUEST, message);
}

function reply(context: BrokerContext, result: PopResult): RpcReply {
  const header: PopMessageResponseHeader = {
    count: result.records.length, handles: result.handles, invisibleUntil: result.invisibleUntil, brokerName: context.options.brokerName,
  };
  const body = result.records.length === 0 ? undefined : result.records.length === 1 ? result.records[0] : Buffer.concat(result.records);
  return { header, body };
}

/**
 * POP_MESSAGE: pops up to maxCount visible messages of the subscribed topics (and the group's retry queue) on this
 * broker, each invisible to the group for invisibleMs (see PopService). With nothing visible and pollMs > 0 the
 * request is held until a message arrives on one of those topics or min(pollMs, longPollingMaxMs) passes.
 */
export function popMessageProcessor(context: BrokerContext): RpcHandler {
  const { maxPullBytes, maxPullCount, longPollingMaxMs, maxHeldPullsPerConnection } = context.options;
  const sqlFilters = new PullSqlFilters();

  function subscription(value: unknown, i: number): PopFilter {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`subscriptions[${i}] must be a map`);
    const entry = value as FrameHeader;
    const topic = topicField(entry, 'topic', false);
    const tags = arrayField(entry, 'tags').map((tag, j) => {
      if (typeof tag !== 'string' || tag.length === 0 || tag === '*') invalid(`subscriptions[${i}].tags[${j}] must be a tag`);
      return tag;
    });
    if (tags.length > MAX_TAGS) invalid(`subscriptions[${i}] has ${tags.length} tags; the maximum is ${MAX_TAGS}`);
    const sql = optionalStringField(entry, 'sql');
    return {
      topic,
      tags: tags.length > 0 ? new Set(tags) : undefined,
      tagHashes: tags.length > 0 ? new Set(tags.map((tag) => tagHash(tag))) : undefined,
      sql: sql === undefined || sql.trim() === '' ? undefined : sqlFilters.get(sql),
    };
  }

  function parse(request: Frame): PopArgs & { pollMs: number } {
    const header = request.header;
    const subscriptions = arrayField(header, 'subscriptions').map(subscription);
    if (subscriptions.length === 0 || subscriptions.length > MAX_SUBSCRIPTIONS) invalid(`subscriptions must list 1-${MAX_SUBSCRIPTIONS} topics`);
    if (new Set(subscriptions.map((s) => s.topic)).size !== subscriptions.length) invalid('subscriptions must not repeat a topic');
    const maxInvisibleMs = Math.min(POP_MAX_INVISIBLE_MS, delayOf(context).timers.options.maxDelayMs);
    const fromWhere = header.fromWhere ?? 'LAST_OFFSET';
    if (!FROM_WHERE.includes(fromWhere as ConsumeFromWhere)) invalid(`fromWhere must be one of ${FROM_WHERE.join(', ')}`);
    return {
      group: consumerGroupField(header),
      subscriptions,
      maxCount: Math.min(intField(header, 'maxCount', 1, POP_MAX_COUNT), maxPullCount),
      maxBytes: maxPullBytes,
      invisibleMs: intField(header, 'invisibleMs', POP_MIN_INVISIBLE_MS, maxInvisibleMs),
      pollMs: Math.min(optionalIntField(header, 'pollMs', 0), longPollingMaxMs),
      fromWhere: fromWhere as ConsumeFromWhere,
      timestamp: optionalIntField(header, 'timestamp', Date.now() - 30 * 60_000),
      maxReconsumeTimes: header.maxReconsumeTimes === undefined || header.maxReconsumeTimes === null ? undefined : checkInt(header.maxReconsumeTimes, 'maxReconsumeTimes', 0, 1000),
    };
  }

  async function attempt(args: PopArgs, connection: RpcConnection, deadline: number): Promise<RpcReply> {
    // Checked at every attempt: push members may have joined while the pop was held.
    context.consumers.assertConsumeType(args.group, 'POP');
    const service = popOf(context);
    const result = await service.pop(args);
    if (result.records.length > 0 || deadline <= Date.now() || context.closing) return reply(context, result);
    return hold(args, connection, deadline);
  }

  function hold(args: PopArgs, connection: RpcConnection, deadline: number): Promise<RpcReply> {
    const service = popOf(context);
    return new Promise<RpcReply>((resolve, reject) => {
      const wake = (reason: PopWakeReason): void => {
        // Nobody would read what a pop takes now: answer empty without popping (and making messages invisible).
        if (reason === 'shutdown' || connection.closed || context.closing) {
          resolve(reply(context, { records: [], handles: [], invisibleUntil: 0 }));
          return;
        }
        attempt(args, connection, reason === 'arrival' ? deadline : 0).then(resolve, reject);
      };
      const pop = { topics: service.topicsOf(args), connection, wake };
      if (!service.waiters.hold(pop, Math.max(1, deadline - Date.now()))) {
        reject(rpcFailure(ResponseCode.SYSTEM_BUSY, `connection ${connection.remoteAddress} already holds ${maxHeldPullsPerConnection} pops`));
        return;
      }
      // A message may have landed while the pop was reading: its notification found nobody waiting.
      if (service.hasVisible(args)) service.waiters.settle(pop, 'arrival');
    });
  }

  return (request: Frame, connection: RpcConnection): Promise<RpcReply> => {
    const args = parse(request);
    const exists = args.subscriptions.some((filter) => context.topics.get(filter.topic) !== undefined);
    if (!exists) {
      throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `none of the topics ${args.subscriptions.map((s) => s.topic).join(', ')} exists on broker ${context.options.brokerName}`);
    }
    const deadline = args.pollMs > 0 ? Date.now() + args.pollMs : 0;
    return attempt(args, connection, deadline);
  };
}
