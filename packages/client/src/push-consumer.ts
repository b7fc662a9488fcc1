import type {
  CommitOffsetRequestHeader,
  ConsumeFromWhere,
  ConsumerSendBackRequestHeader,
  Frame,
  HeartbeatRequestHeader,
  NotifyOffsetResetHeader,
  OffsetCommit,
  PullRequestHeader,
  ReceivedMessage,
  RpcConnection,
} from '@litemq/protocol';
import {
  FrameFlag,
  RecordField,
  RequestCode,
  ResponseCode,
  RpcClient,
  RecordMessage,
  emptySections,
  expectSuccess,
  readRecordSections,
  readU64,
  remoteErrorOf,
  retryTopicOf,
  validateConsumerGroupName,
  validateTopicName,
} from '@litemq/protocol';
import { allocateAveragely } from './allocate.js';
import { ClientError, ClientErrorCode, clientClosed, invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import { silentClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import type { CachedMessage } from './process-queue.js';
import { ProcessQueue } from './process-queue.js';
import type { OrderlyConsumeOptions } from './orderly-consume-service.js';
import { OrderlyConsumeService } from './orderly-consume-service.js';
import type { TopicRoute } from './route-cache.js';
import { DEFAULT_ROUTE_REFRESH_MS, RouteCache } from './route-cache.js';
import type { SubscriptionFilter, TagFilter } from './tag-expression.js';
import { parseSubscription, parseTagExpression } from './tag-expression.js';
import { SerialTrigger, checkInteger, checkNameServers, createClientId, sleep } from './util.js';
import type { MaxReconsumeTimesOption } from './retry-message.js';
import { RetriedMessage, failureReasonOf, isRetryTopic, retryLimitOf } from './retry-message.js';
import type { BroadcastSettings, MessageModel } from './broadcast.js';
import { broadcastGivesUp, broadcastSettingsOf, commitLocally, persistStartOffset } from './broadcast.js';
import { LocalOffsetStore } from './local-offset-store.js';

export type MessageHandler = (message: ReceivedMessage) => Promise<void> | void;

export interface PushConsumerOptions {
  nameServers: string[];
  /** Consumer group: the group's members share the queues of its topics (cluster mode). */
  group: string;
  /** Where a queue without a committed offset starts. Default LAST_OFFSET. */
  consumeFromWhere?: ConsumeFromWhere;
  /** Start time (ms since epoch) for consumeFromWhere TIMESTAMP. Default: 30 minutes ago. */
  consumeTimestamp?: number;
  /** Handler calls in flight at once (handler mode). Default 16. */
  concurrency?: number;
  /** Messages cached per queue (pulled, not yet processed) before pulling that queue pauses. Default 1000. */
  maxPrefetch?: number;
  /** Most messages per pull (the broker also caps a response at its maxPullBytes). Default 256. */
  pullBatchSize?: number;
  /** How long the broker may hold a pull with nothing new (long polling), in ms. Default 15000. */
  pullSuspendMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceIntervalMs?: number;
  commitIntervalMs?: number;
  routeRefreshMs?: number;
  /** Timeout of non-pull requests, in ms. Default 3000. */
  requestTimeoutMs?: number;
  /**
   * What happens to a message whose handler throws. `broker` (default): it is sent back to the broker, which
   * redelivers it through `%RETRY%<group>` with backoff (broker `retry.levels`) and, after maxReconsumeTimes
   * retries, stores it in `%DLQ%<group>`; if the send-back fails it is redelivered in-process. `local`: always
   * redelivered in-process (1 s doubling to 30 s), never dead-lettered.
   */
  retryMode?: 'broker' | 'local';
  /**
   * Retries before the dead-letter queue (default: the broker's, 16). A function gives a per-message value
   * (`undefined` = the group's); a message's own `$maxReconsumeTimes` system property wins over both.
   */
  maxReconsumeTimes?: MaxReconsumeTimesOption;
  /**
   * Orderly consumption (needs a handler): each queue is processed strictly serially, in offset order, while this
   * member holds the broker's lock on it; a failing message is retried in place (after `suspendMs`) up to
   * maxReconsumeTimes (default 5 here), then dead-lettered and the queue moves on. The retry topic is not used
   * and retryMode does not apply. `true` takes the defaults (orderly-consume-service.ts).
   */
  orderly?: boolean | OrderlyConsumeOptions;
  /**
   * `clustering` (default): the group's members divide the queues; offsets are committed to the brokers.
   * `broadcasting`: every instance reads every queue of its topics and keeps its own offsets in a local file
   * (`<offsetStoreDir>/<instanceName>/<group>.json`); failed messages are retried in place up to
   * maxReconsumeTimes (default 3 here) and then skipped, never sent to the broker; admin offset resets do not apply.
   */
  messageModel?: MessageModel;
  /** Broadcasting: directory of the local offset files. Default `~/.litemq/offsets`. */
  offsetStoreDir?: string;
  /**
   * Broadcasting: this instance's stable name, part of its offset file's path, so it must stay the same across
   * restarts and differ between instances sharing a host and offsetStoreDir. Default: the host name.
   */
  instanceName?: string;
  logger?: ClientLogger;
}

/** `starting`: start() is under way (close() then waits for it and start() fails with CLIENT_CLOSED). */
type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

const REDELIVERY_BASE_MS = 1000;
const REDELIVERY_MAX_MS = 30_000;
const PULL_ERROR_BASE_MS = 200;
const PULL_ERROR_MAX_MS = 5000;
/** A PULL_NOT_FOUND quicker than this means the broker did not hold the pull: wait a little before the next. */
const QUICK_EMPTY_PULL_MS = 20;

/** Delay before the n-th redelivery of a failed message: 1 s doubling, capped at 30 s. */
export function redeliveryDelayMs(failures: number): number {
  return Math.min(REDELIVERY_BASE_MS * 2 ** Math.max(0, failures - 1), REDELIVERY_MAX_MS);
}

/**
 * Cluster-mode consumer: the group's live members divide the queues of the subscribed topics (averaging
 * allocation); each member long-polls its queues, delivers messages to a handler (bounded concurrency) or to a
 * `for await` loop, and commits for each queue the lowest offset not yet processed. At-least-once: a handler
 * that throws gets the message again after a backoff, and its offset is never committed past it.
 * With `messageModel: 'broadcasting'` every instance reads every queue and keeps its offsets in a local file
 * (broadcast.ts, local-offset-store.ts).
 */
export class PushConsumer implements AsyncDisposable, AsyncIterable<ReceivedMessage> {
  readonly clientId = createClientId();
  readonly group: string;
  /** `clustering` (default) or `broadcasting`. */
  readonly messageModel: MessageModel;
  private readonly rpc: RpcClient;
  private readonly routes: RouteCache;
  private readonly logger: ClientLogger;
  private readonly subscriptions = new Map<string, TagFilter>();
  private readonly queues = new Map<string, ProcessQueue>();
  private readonly readyQueues = new Set<ProcessQueue>();
  private readonly fromWhere: ConsumeFromWhere;
  private readonly consumeTimestamp: number;
  private readonly concurrency: number;
  private readonly maxPrefetch: number;
  private readonly pullBatchSize: number;
  private readonly suspendMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly rebalanceIntervalMs: number;
  private readonly commitIntervalMs: number;
  private readonly requestTimeoutMs: number;
  private readonly rebalancer: SerialTrigger;
  /** Orderly consumption: queue locks and serial per-queue delivery (undefined: concurrent). */
  private readonly orderly: OrderlyConsumeService | undefined;
  private readonly retryMode: 'broker' | 'local';
  private readonly maxReconsumeTimes: PushConsumerOptions['maxReconsumeTimes'];
  /** Broadcasting: instance name and offset file (undefined in clustering). */
  private readonly broadcast: BroadcastSettings | undefined;
  /** Broadcasting: the local offsets, opened by start(). */
  private localOffsets: LocalOffsetStore | undefined;
  private readonly sendBacks = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly redeliveryTimers = new Set<NodeJS.Timeout>();
  /** A rebalance found a subscribed topic without a route: retried sooner than the interval, with backoff. */
  private routeRetry: { timer: NodeJS.Timeout | undefined; delayMs: number } = { timer: undefined, delayMs: 0 };
  private readonly pullLoops = new Set<Promise<void>>();
  private state: State = 'new';
  private handler: MessageHandler | undefined;
  private running = 0;
  private idleWaiter: (() => void) | undefined;
  private iterating: { pq: ProcessQueue; entry: CachedMessage } | undefined;
  private iteratorWaiter: (() => void) | undefined;
  /** Iterator calls run one after the other, in call order (like an async generator's). */
  private iteratorTail: Promise<unknown> = Promise.resolve();
  /** The start() in progress, which close() waits for. */
  private starting: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  /** Scratch of acceptRecords (reused: no array per record). */
  private readonly sections = emptySections();
  private readonly accepted: number[] = [];

  constructor(options: PushConsumerOptions) {
    if (typeof options !== 'object' || options === null) throw invalidOptions('PushConsumer options are required');
    const nameServers = checkNameServers(options.nameServers);
    validateConsumerGroupName(options.group);
    this.group = options.group;
    const fromWhere = options.consumeFromWhere ?? 'LAST_OFFSET';
    if (!['LAST_OFFSET', 'FIRST_OFFSET', 'TIMESTAMP'].includes(fromWhere)) throw invalidOptions(`consumeFromWhere must be LAST_OFFSET, FIRST_OFFSET or TIMESTAMP`);
    this.fromWhere = fromWhere;
    this.consumeTimestamp = checkInteger('consumeTimestamp', options.consumeTimestamp, Date.now() - 30 * 60_000, 0);
    this.concurrency = checkInteger('concurrency', options.concurrency, 16, 1, 65_536);
    this.maxPrefetch = checkInteger('maxPrefetch', options.maxPrefetch, 1000, 1);
    this.pullBatchSize = checkInteger('pullBatchSize', options.pullBatchSize, 256, 1, 1024);
    this.suspendMs = checkInteger('pullSuspendMs', options.pullSuspendMs, 15_000, 0);
    this.heartbeatIntervalMs = checkInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, 30_000, 10);
    this.rebalanceIntervalMs = checkInteger('rebalanceIntervalMs', options.rebalanceIntervalMs, 20_000, 10);
    this.commitIntervalMs = checkInteger('commitIntervalMs', options.commitIntervalMs, 5000, 10);
    this.requestTimeoutMs = checkInteger('requestTimeoutMs', options.requestTimeoutMs, 3000, 1);
    this.logger = options.logger ?? silentClientLogger;
    const retryMode = options.retryMode ?? 'broker';
    if (retryMode !== 'broker' && retryMode !== 'local') throw invalidOptions(`retryMode must be 'broker' or 'local'`);
    this.retryMode = retryMode;
    const max = options.maxReconsumeTimes;
    if (max !== undefined && typeof max !== 'function') checkInteger('maxReconsumeTimes', max, 16, 0, 1000);
    this.maxReconsumeTimes = max;
    this.broadcast = broadcastSettingsOf(this.group, options);
    this.messageModel = this.broadcast ? 'broadcasting' : 'clustering';
    this.rpc = new RpcClient({ logger: this.logger, onRequest: (frame, connection) => this.onServerRequest(frame, connection) });
    this.routes = new RouteCache(this.rpc, nameServers, {
      routeRefreshMs: checkInteger('routeRefreshMs', options.routeRefreshMs, DEFAULT_ROUTE_REFRESH_MS, 10),
      requestTimeoutMs: this.requestTimeoutMs,
      logger: this.logger,
    });
    this.rebalancer = new SerialTrigger(() => this.rebalance());
    this.orderly = this.createOrderly(options.orderly);
  }

  /**
   * Subscribes to `topic` with a tag expression (`*`, the default, or `tagA || tagB`) or with
   * `{ tags?, sql? }`, where `sql` is an SQL-92 subset over the message's properties (and `TAGS`), e.g.
   * `region = 'eu' AND amount > 100`. An invalid expression throws here (SqlFilterError with the position).
   * Call before start().
   */
  subscribe(topic: string, expression: string | SubscriptionFilter = '*'): this {
    if (this.state !== 'new') throw new ClientError(ClientErrorCode.INVALID_OPTIONS, 'subscribe() must be called before start()');
    validateTopicName(topic);
    this.subscriptions.set(topic, parseSubscription(expression));
    return this;
  }

  /**
   * Joins the group and starts consuming: with a handler, messages are passed to it (`concurrency` at once);
   * without one, read them with `for await (const message of consumer)`.
   */
  async start(handler?: MessageHandler): Promise<void> {
    if (this.state !== 'new') throw this.state === 'running' || this.state === 'starting' ? invalidOptions('the consumer is already started') : clientClosed('consumer');
    if (this.subscriptions.size === 0) throw invalidOptions('subscribe() to at least one topic before start()');
    if (handler !== undefined && typeof handler !== 'function') throw invalidOptions('the handler must be a function');
    if (this.orderly && handler === undefined) throw invalidOptions('an orderly consumer needs a handler: start(handler)');
    // Set synchronously: a close() from here on waits for this start, which then fails with CLIENT_CLOSED.
    this.state = 'starting';
    const starting = this.doStart(handler);
    this.starting = starting;
    try {
      await starting;
    } finally {
      this.starting = undefined;
    }
  }

  /**
   * start() after its checks. After each await it stops with CLIENT_CLOSED if close() was called meanwhile: close()
   * waits for it, then cleans up what it created (offset file, routes, registration), and no timer is created after.
   */
  private async doStart(handler: MessageHandler | undefined): Promise<void> {
    // Broadcasting: take this instance's offset file first (a corrupt or busy file fails start() here).
    if (this.broadcast) {
      const { offsetFile, instanceName } = this.broadcast;
      try {
        this.localOffsets = await LocalOffsetStore.open({ path: offsetFile, group: this.group, instanceName, clientId: this.clientId, logger: this.logger });
      } catch (error) {
        if (this.state === 'starting') this.state = 'new'; // nothing else was created: start() may be called again
        throw error;
      }
      this.throwIfClosing();
    }
    this.handler = handler;
    // The group's retry topic (clustering only): the broker creates and registers it on the first heartbeat.
    if (this.retryMode === 'broker' && !this.broadcast && !this.orderly) this.subscriptions.set(retryTopicOf(this.group), parseTagExpression('*'));
    this.routes.start();
    for (const topic of this.subscriptions.keys()) {
      if (isRetryTopic(topic)) continue;
      await this.routes.get(topic).catch((error: unknown) => this.logger.warn({ topic, err: error }, 'no route yet for a subscribed topic'));
      this.throwIfClosing();
    }
    this.state = 'running'; // the rebalance below consumes only while running
    await this.heartbeat();
    this.throwIfClosing();
    await this.rebalancer.trigger().catch((error: unknown) => this.logger.warn({ err: error }, 'initial rebalance failed'));
    this.throwIfClosing();
    this.every(this.heartbeatIntervalMs, () => void this.heartbeat());
    this.every(this.rebalanceIntervalMs, () => this.requestRebalance());
    this.every(this.commitIntervalMs, () => void this.commitOffsets().catch((error: unknown) => this.logger.warn({ err: error }, 'offset commit failed')));
    // Orderly: lock renewals every lockRenewIntervalMs, or a third of the broker's lease if shorter.
    this.orderly?.start();
  }

  /** start() was overtaken by close(): it stops here (close() cleans up). */
  private throwIfClosing(): void {
    if (this.state !== 'starting' && this.state !== 'running') throw clientClosed('consumer');
  }

  /** Broadcasting: this instance's local offset file (undefined in clustering). */
  get offsetStorePath(): string | undefined {
    return this.broadcast?.offsetFile;
  }

  /** Queues of the subscribed topics currently assigned to this member (with `includeRetry`, its retry queues too). */
  assignedQueues(options: { includeRetry?: boolean } = {}): MessageQueue[] {
    return [...this.queues.values()].map((pq) => pq.queue).filter((queue) => options.includeRetry === true || !isRetryTopic(queue.topic));
  }

  /** Rebalances now (also runs every rebalanceIntervalMs and when the broker says the group changed). */
  requestRebalance(): void {
    if (this.state !== 'running') return;
    this.rebalancer.trigger().catch((error: unknown) => this.logger.warn({ err: error }, 'rebalance failed'));
  }

  /**
   * Iterates over messages (start() without a handler). A message counts as processed when the loop asks for
   * the next one; leaving the loop (break/throw) hands the current message back for redelivery. Calls to next() and
   * return() made without waiting for the previous one are served one at a time, in call order, like an async
   * generator's: each next() acknowledges the message the previous next() returned.
   */
  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    return {
      next: () => this.serializeIteration(() => this.iteratorNext()),
      return: () =>
        this.serializeIteration(() => {
          this.releaseIterated(false);
          return Promise.resolve({ done: true, value: undefined });
        }),
    };
  }

  /** Stops pulling, waits for handlers in flight, commits offsets and leaves the group. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- lifecycle ---------------------------------------------------------------------------------------

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private async doClose(): Promise<void> {
    if (this.state === 'new') {
      this.state = 'closed';
      await this.rpc.close();
      return;
    }
    const starting = this.starting;
    this.state = 'closing';
    // A start() under way stops at its next step (CLIENT_CLOSED); what it created is cleaned up below, and it
    // creates no timer after that step.
    if (starting) await starting.catch(() => undefined);
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    this.routes.stop();
    for (const timer of this.redeliveryTimers) clearTimeout(timer);
    this.redeliveryTimers.clear();
    clearTimeout(this.routeRetry.timer);
    await this.rebalancer.idle();
    for (const pq of this.queues.values()) {
      pq.stopPulling();
      pq.clearReady();
    }
    this.readyQueues.clear();
    this.wakeIterator();
    await Promise.allSettled([...this.pullLoops]);
    if (this.running > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    await Promise.allSettled([...this.sendBacks]);
    // Orderly: waits for the messages in flight, commits, then unlocks its queues (a queue is never committed after
    // its unlock: that could rewind the next owner's offset, so no final commitOffsets() here).
    if (this.orderly) await this.orderly.close();
    else await this.commitOffsets().catch((error: unknown) => this.logger.warn({ err: error }, 'final offset commit failed'));
    await this.localOffsets?.close().catch((error: unknown) => this.logger.warn({ err: error }, 'closing the local offset file failed'));
    await this.unregister();
    this.queues.clear();
    await this.rpc.close();
    this.state = 'closed';
  }

  private onServerRequest(frame: Frame, connection: RpcConnection): void {
    if (frame.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) {
      if (frame.header.group === this.group) {
        this.logger.debug({ group: this.group }, 'group membership changed; rebalancing');
        this.requestRebalance();
      }
      connection.respond(frame, ResponseCode.SUCCESS);
      return;
    }
    if (frame.code === RequestCode.NOTIFY_OFFSET_RESET) {
      if (frame.header.group === this.group) this.offsetsReset(frame.header as unknown as NotifyOffsetResetHeader);
      if ((frame.flags & FrameFlag.ONEWAY) === 0) connection.respond(frame, ResponseCode.SUCCESS);
      return;
    }
    if ((frame.flags & FrameFlag.ONEWAY) === 0) {
      connection.respond(frame, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, { error: `consumer does not handle request code ${frame.code}`, errorCode: 'REQUEST_CODE_NOT_SUPPORTED' });
    }
  }

  /**
   * An admin reset the group's offsets: the affected queues are dropped (cached messages forgotten, pulls
   * aborted, nothing committed) and picked up again by a rebalance, which reads the new committed offsets.
   */
  private offsetsReset(header: NotifyOffsetResetHeader): void {
    if (this.state !== 'running' || !Array.isArray(header.offsets)) return;
    if (this.broadcast) {
      this.logger.info({ group: this.group, brokerName: header.brokerName }, 'offset reset ignored: a broadcasting consumer keeps its own offsets');
      return;
    }
    let dropped = 0;
    for (const entry of header.offsets) {
      const key = queueKey({ topic: entry.topic, queueId: entry.queueId, brokerName: header.brokerName });
      const pq = this.queues.get(key);
      if (!pq) continue;
      pq.drop();
      this.readyQueues.delete(pq);
      this.queues.delete(key);
      // Orderly: wait for the message in flight before the queue can be taken again; its old offset is not committed.
      this.orderly?.release([pq], { commit: false });
      dropped++;
    }
    this.logger.info({ group: this.group, brokerName: header.brokerName, queues: dropped }, 'offsets reset by an admin; re-reading them');
    if (dropped > 0) this.requestRebalance();
  }

  /** Master addresses of every broker serving a subscribed topic. */
  private masterAddresses(): string[] {
    const addresses = new Set<string>();
    for (const topic of this.subscriptions.keys()) {
      const route = this.routes.cached(topic);
      if (route) for (const address of route.masters.values()) addresses.add(address);
    }
    return [...addresses];
  }

  private async heartbeat(): Promise<void> {
    const header: HeartbeatRequestHeader = {
      clientId: this.clientId,
      producerGroups: [],
      consumers: [
        {
          group: this.group,
          consumeModel: this.broadcast ? 'BROADCASTING' : 'CLUSTERING',
          fromWhere: this.fromWhere,
          // A broadcasting instance's retry limit is its own business, not the group's broker-side one.
          ...(typeof this.maxReconsumeTimes === 'number' && !this.broadcast ? { maxReconsumeTimes: this.maxReconsumeTimes } : {}),
          subscriptions: [...this.subscriptions].map(([topic, filter]) => (filter.sql ? { topic, expression: filter.expression, sql: filter.sql.expression } : { topic, expression: filter.expression })),
        },
      ],
    };
    await Promise.all(
      this.masterAddresses().map((address) =>
        this.rpc
          .request(address, RequestCode.HEARTBEAT, header, undefined, { timeoutMs: this.requestTimeoutMs })
          .then(expectSuccess)
          .catch((error: unknown) => this.logger.warn({ broker: address, err: error }, 'heartbeat failed')),
      ),
    );
  }

  private async unregister(): Promise<void> {
    await Promise.all(
      this.masterAddresses().map((address) =>
        this.rpc
          .request(address, RequestCode.UNREGISTER_CLIENT, { clientId: this.clientId, consumerGroup: this.group }, undefined, { timeoutMs: this.requestTimeoutMs })
          .then(expectSuccess)
          .catch((error: unknown) => this.logger.warn({ broker: address, err: error }, 'unregister failed')),
      ),
    );
  }

  // --- rebalance ---------------------------------------------------------------------------------------

  private async consumerList(route: TopicRoute): Promise<string[]> {
    let lastError: unknown = new ClientError(ClientErrorCode.NO_ROUTE, `topic ${route.data.topic} has no broker with a master`, { retriable: true });
    for (const address of route.masters.values()) {
      try {
        const frame = expectSuccess(await this.rpc.request(address, RequestCode.GET_CONSUMER_LIST, { group: this.group }, undefined, { timeoutMs: this.requestTimeoutMs }));
        const ids = frame.header.clientIds;
        if (!Array.isArray(ids)) throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'GET_CONSUMER_LIST answered without clientIds');
        return ids.filter((id): id is string => typeof id === 'string');
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  private async rebalance(): Promise<void> {
    let missingRoute = false;
    for (const [topic] of this.subscriptions) {
      if (this.state !== 'running') return;
      let route: TopicRoute;
      try {
        route = await this.routes.refresh(topic).catch(() => this.routes.get(topic));
      } catch (error) {
        this.logger.warn({ topic, err: error }, 'rebalance: no route');
        missingRoute = true;
        continue;
      }
      // Broadcasting: every readable queue, whoever else is in the group (the refreshed route brings new queues).
      if (this.broadcast) {
        await this.applyAssignment(topic, route, [...route.readQueues]);
        continue;
      }
      let clientIds: string[];
      try {
        clientIds = await this.consumerList(route);
      } catch (error) {
        this.logger.warn({ topic, err: error }, 'rebalance: cannot get the consumer list');
        continue;
      }
      if (!clientIds.includes(this.clientId)) {
        // Our heartbeat has not reached that broker yet: announce ourselves and keep the current assignment.
        this.logger.debug({ topic, clientIds }, 'rebalance: not yet a known member; sending a heartbeat');
        await this.heartbeat();
        continue;
      }
      const assigned = allocateAveragely(route.readQueues, clientIds, this.clientId);
      await this.applyAssignment(topic, route, assigned);
    }
    if (missingRoute) this.retryRouteSoon();
    else this.routeRetry.delayMs = 0;
  }

  /**
   * A consumer started before its topic exists (or while the NameServer is unreachable) looks again after 0.5 s,
   * doubling up to the rebalance interval, instead of idling a whole interval once the topic appears.
   */
  private retryRouteSoon(): void {
    if (this.routeRetry.timer !== undefined || this.state !== 'running') return;
    const delayMs = Math.min(Math.max(500, this.routeRetry.delayMs * 2), this.rebalanceIntervalMs);
    this.routeRetry.delayMs = delayMs;
    this.routeRetry.timer = setTimeout(() => {
      this.routeRetry.timer = undefined;
      this.requestRebalance();
    }, delayMs);
  }

  private async applyAssignment(topic: string, route: TopicRoute, assigned: MessageQueue[]): Promise<void> {
    const wanted = new Map(assigned.map((queue) => [queueKey(queue), queue]));
    const dropped: ProcessQueue[] = [];
    for (const [key, pq] of this.queues) {
      if (pq.queue.topic === topic && !wanted.has(key)) {
        pq.drop();
        this.readyQueues.delete(pq);
        this.queues.delete(key);
        dropped.push(pq);
      }
    }
    if (dropped.length > 0) {
      this.logger.info({ topic, queues: dropped.map((pq) => queueKey(pq.queue)) }, 'rebalance: queues released');
      await this.commitQueues(dropped).catch((error: unknown) => this.logger.warn({ err: error }, 'commit of released queues failed'));
      // Orderly: each finishes its message in flight, commits and unlocks (in the background).
      this.orderly?.release(dropped);
    }
    const added: string[] = [];
    for (const [key, queue] of wanted) {
      if (this.queues.has(key) || this.state !== 'running') continue;
      const address = route.masters.get(queue.brokerName);
      if (!address) continue;
      // Orderly: only a queue this member locked (its committed offset is final then); others are retried later.
      if (this.orderly && !(await this.orderly.lock(address, queue))) continue;
      let offset: number;
      let committed: boolean;
      try {
        ({ offset, committed } = await this.initialOffset(address, queue));
      } catch (error) {
        this.logger.warn({ queue: key, err: error }, 'rebalance: cannot read the start offset; will retry at the next rebalance');
        await this.orderly?.unlock(address, queue);
        continue;
      }
      // Broadcasting: the start position is on disk before the first pull (a crash must not resolve it again).
      if (this.localOffsets && !(await persistStartOffset(this.localOffsets, queue, offset, this.logger))) continue;
      const pq = new ProcessQueue(queue, offset, this.maxPrefetch);
      pq.lastCommitted = committed || this.localOffsets ? offset : -1;
      // Clustering, a queue the group never committed: commit the start position before the first pull, so a
      // member killed before its first commit does not make the next owner resolve it again (LAST_OFFSET or
      // TIMESTAMP would then skip what arrived in between).
      if (pq.lastCommitted < 0) {
        try {
          await this.commitQueues([pq]);
        } catch (error) {
          this.logger.warn({ queue: key, err: error }, 'rebalance: cannot commit the start offset; will retry at the next rebalance');
          await this.orderly?.unlock(address, queue);
          continue;
        }
      }
      if (this.state !== 'running') {
        await this.orderly?.unlock(address, queue);
        return;
      }
      this.queues.set(key, pq);
      added.push(key);
      const loop = this.pullLoop(pq).catch((error: unknown) => this.logger.error({ queue: key, err: error }, 'pull loop crashed'));
      this.pullLoops.add(loop);
      void loop.finally(() => this.pullLoops.delete(loop));
    }
    if (added.length > 0) this.logger.info({ topic, queues: added }, 'rebalance: queues assigned');
  }

  /** Where a newly assigned queue starts, and whether that is an offset the group (or this instance) committed. */
  private async initialOffset(address: string, queue: MessageQueue): Promise<{ offset: number; committed: boolean }> {
    // Broadcasting: this instance's own offset, else consumeFromWhere (the group's broker-side offsets never apply).
    const local = this.localOffsets?.read(queue);
    if (local !== undefined) return { offset: local, committed: true };
    const request = (header: { topic: string; queueId: number; group?: string }): Promise<Frame> =>
      this.rpc.request(address, RequestCode.QUERY_OFFSETS, header, undefined, { timeoutMs: this.requestTimeoutMs });
    let frame = await request(this.broadcast ? { topic: queue.topic, queueId: queue.queueId } : { topic: queue.topic, queueId: queue.queueId, group: this.group });
    if (frame.code === ResponseCode.OFFSET_NOT_FOUND) frame = await request({ topic: queue.topic, queueId: queue.queueId });
    const header = expectSuccess(frame).header;
    const committed = typeof header.committedOffset === 'number' && frame.code === ResponseCode.SUCCESS ? header.committedOffset : -1;
    if (committed >= 0) return { offset: committed, committed: true };
    return { offset: await this.startOffset(address, queue, header), committed: false };
  }

  /** consumeFromWhere for a queue without a committed offset (`header`: its QUERY_OFFSETS answer). */
  private async startOffset(address: string, queue: MessageQueue, header: Frame['header']): Promise<number> {
    const minOffset = typeof header.minOffset === 'number' ? header.minOffset : 0;
    const maxOffset = typeof header.maxOffset === 'number' ? header.maxOffset : 0;
    // A retry queue holds only this group's failed messages: read it all, whatever consumeFromWhere says.
    if (isRetryTopic(queue.topic)) return minOffset;
    switch (this.fromWhere) {
      case 'FIRST_OFFSET':
        return minOffset;
      case 'LAST_OFFSET':
        return maxOffset;
      case 'TIMESTAMP': {
        const reply = expectSuccess(
          await this.rpc.request(address, RequestCode.QUERY_OFFSET_BY_TIME, { topic: queue.topic, queueId: queue.queueId, timestamp: this.consumeTimestamp }, undefined, {
            timeoutMs: this.requestTimeoutMs,
          }),
        );
        return typeof reply.header.offset === 'number' ? reply.header.offset : maxOffset;
      }
    }
  }

  // --- pulling -----------------------------------------------------------------------------------------

  private async pullLoop(pq: ProcessQueue): Promise<void> {
    const { topic, queueId, brokerName } = pq.queue;
    const filter = this.subscriptions.get(topic)!;
    let failures = 0;
    while (!pq.pullStopped) {
      if (pq.isFull) {
        await pq.waitForRoom();
        continue;
      }
      const address = this.routes.cached(topic)?.masters.get(brokerName);
      const consumed = pq.consumedOffset();
      // Broadcasting never commits to the broker (its offsets are this instance's, in the local file); orderly
      // commits only under a valid lock (see commitQueues).
      const commitOffset = consumed !== pq.lastCommitted && !this.broadcast && this.mayCommit(pq) ? consumed : -1;
      const header: PullRequestHeader = {
        group: this.group,
        topic,
        queueId,
        offset: pq.nextOffset,
        // Never pull past the prefetch bound: cached + in flight stays ≤ maxPrefetch per queue.
        maxCount: Math.max(1, Math.min(this.pullBatchSize, this.maxPrefetch - pq.unfinished)),
        suspendMs: this.suspendMs,
        commitOffset,
        ...(filter.all ? {} : { tagHashes: [...filter.hashes] }),
        ...(filter.sql ? { sql: filter.sql.expression } : {}),
      };
      const startedAt = Date.now();
      let frame: Frame;
      try {
        if (!address) throw new ClientError(ClientErrorCode.NO_ROUTE, `no master for broker ${brokerName}`, { retriable: true });
        frame = await this.rpc.request(address, RequestCode.PULL_MESSAGE, header, undefined, { timeoutMs: this.suspendMs + 5000, signal: pq.abort.signal });
      } catch (error) {
        if (pq.pullStopped) return;
        failures++;
        this.logger.warn({ topic, brokerName, queueId, err: error }, 'pull failed; backing off');
        if (failures > 1) this.routes.refresh(topic).catch(() => undefined);
        await sleep(Math.min(PULL_ERROR_BASE_MS * 2 ** (failures - 1), PULL_ERROR_MAX_MS), pq.abort.signal).catch(() => undefined);
        continue;
      }
      if (pq.dropped) return;
      const nextOffset = typeof frame.header.nextOffset === 'number' ? frame.header.nextOffset : undefined;
      if (frame.code === ResponseCode.SUCCESS || frame.code === ResponseCode.PULL_NOT_FOUND || frame.code === ResponseCode.PULL_OFFSET_MOVED) {
        failures = 0;
        if (commitOffset >= 0) pq.lastCommitted = commitOffset;
      }
      if (frame.code === ResponseCode.SUCCESS) {
        try {
          this.acceptRecords(pq, filter, frame.body);
        } catch (error) {
          failures++;
          this.logger.error({ topic, brokerName, queueId, offset: pq.nextOffset, err: error }, 'malformed pull response; retrying');
          await sleep(Math.min(PULL_ERROR_BASE_MS * 2 ** (failures - 1), PULL_ERROR_MAX_MS), pq.abort.signal).catch(() => undefined);
          continue;
        }
        if (nextOffset !== undefined && nextOffset > pq.nextOffset) pq.nextOffset = nextOffset;
        if (pq.hasReady) this.markReady(pq);
      } else if (frame.code === ResponseCode.PULL_NOT_FOUND) {
        // An answer that moved the offset (the broker skipped records our filter rejects) is not a quick empty pull.
        const moved = nextOffset !== undefined && nextOffset > pq.nextOffset;
        if (moved) pq.nextOffset = nextOffset;
        else if (Date.now() - startedAt < QUICK_EMPTY_PULL_MS && this.suspendMs > 0) {
          await sleep(QUICK_EMPTY_PULL_MS * 5, pq.abort.signal).catch(() => undefined);
        }
      } else if (frame.code === ResponseCode.PULL_OFFSET_MOVED) {
        this.logger.warn({ topic, brokerName, queueId, from: pq.nextOffset, to: nextOffset }, 'pull offset moved');
        if (nextOffset !== undefined && nextOffset < pq.nextOffset) {
          // Backwards: what is cached lies past the new position, and cached offsets must only increase. Start over
          // from the new offset (messages in the handler finish, but count for nothing).
          const dropped = pq.resetTo(nextOffset);
          this.readyQueues.delete(pq);
          if (dropped > 0) this.logger.warn({ topic, brokerName, queueId, offset: nextOffset, dropped }, 'pull offset moved backwards; cached messages dropped');
        } else if (nextOffset !== undefined) pq.nextOffset = nextOffset;
      } else {
        failures++;
        this.logger.warn({ topic, brokerName, queueId, err: remoteErrorOf(frame) }, 'pull rejected; backing off');
        await sleep(Math.min(PULL_ERROR_BASE_MS * 2 ** (failures - 1), PULL_ERROR_MAX_MS), pq.abort.signal).catch(() => undefined);
      }
    }
  }

  /** Caches the records of a pull response, skipping those whose exact tag or SQL filter does not match. */
  private acceptRecords(pq: ProcessQueue, filter: TagFilter, body: Buffer): void {
    const topic = pq.topicBytes;
    const topicLength = topic.length;
    const sections = this.sections;
    const accepted = this.accepted;
    accepted.length = 0;
    let expected = pq.nextOffset;
    for (let start = 0; start < body.length; start += sections.totalSize) {
      // The broker enforced its own (configurable) size limit when it accepted the message; do not re-impose ours.
      readRecordSections(body, start, body.length, sections, Number.MAX_SAFE_INTEGER);
      const offset = readU64(body, start + RecordField.QUEUE_OFFSET);
      if (offset < expected) continue; // already have it
      expected = offset + 1;
      // Compare the topic's bytes instead of building a string per record.
      if (sections.topicLength !== topicLength) continue;
      let same = true;
      for (let i = 0, at = sections.topicStart; i < topicLength; i++, at++) {
        if (body[at] !== topic[i]) {
          same = false;
          break;
        }
      }
      if (!same) continue;
      if (!filter.all) {
        if (sections.tagsLength === 0) continue;
        if (!filter.tags.has(body.toString('utf8', sections.tagsStart, sections.tagsStart + sections.tagsLength))) continue;
      }
      // Filtered-out records are never cached: the committable offset moves past them with nextOffset.
      if (filter.sql && !filter.sql.matchesRecord(body, sections)) continue;
      accepted.push(start, start + sections.totalSize, offset);
    }
    // Only commit to the batch once every record validated.
    for (let i = 0; i < accepted.length; i += 3) pq.add(body, accepted[i]!, accepted[i + 1]!, accepted[i + 2]!);
    accepted.length = 0;
    pq.nextOffset = Math.max(pq.nextOffset, expected);
  }

  // --- delivery ----------------------------------------------------------------------------------------

  private markReady(pq: ProcessQueue): void {
    if (pq.dropped || this.state !== 'running') return;
    if (this.orderly) return this.orderly.ready(pq);
    this.readyQueues.add(pq);
    if (this.handler) this.pump();
    else this.wakeIterator();
  }

  /** Next message to deliver, round-robin over queues with cached messages. */
  private takeNext(): { pq: ProcessQueue; entry: CachedMessage } | undefined {
    for (const pq of this.readyQueues) {
      this.readyQueues.delete(pq);
      if (pq.dropped) continue;
      const entry = pq.takeReady();
      if (pq.hasReady) this.readyQueues.add(pq); // to the back: round-robin
      if (entry) return { pq, entry };
    }
    return undefined;
  }

  private messageOf(pq: ProcessQueue, entry: CachedMessage): ReceivedMessage {
    // A retried message reads as the original (its first topic, id and properties), with its reconsumeTimes.
    entry.message ??= isRetryTopic(pq.queue.topic) ? new RetriedMessage(entry.buf, entry.start, entry.end) : new RecordMessage(entry.buf, entry.start, entry.end);
    const base = entry.buf.readUInt32BE(entry.start + RecordField.RECONSUME_TIMES);
    entry.message.reconsumeTimes = base + entry.failures;
    return entry.message;
  }

  private pump(): void {
    const handler = this.handler!;
    while (this.running < this.concurrency && this.state === 'running') {
      const next = this.takeNext();
      if (!next) return;
      const { pq, entry } = next;
      let message: ReceivedMessage;
      try {
        message = this.messageOf(pq, entry);
      } catch (error) {
        this.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: error }, 'cannot decode a message; skipping it');
        pq.complete(entry);
        continue;
      }
      this.running++;
      let outcome: Promise<void> | void;
      try {
        outcome = handler(message);
      } catch (error) {
        outcome = Promise.reject(error as Error);
      }
      if (outcome === undefined) {
        // A synchronous handler returned: the message is processed now (no promise, no closures per message).
        this.running--;
        pq.complete(entry);
        continue;
      }
      Promise.resolve(outcome)
        .then(
          () => this.handled(pq, entry),
          (error: unknown) => this.failed(pq, entry, error),
        )
        .catch((error: unknown) => this.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: error }, 'completing a message failed'));
    }
  }

  private handled(pq: ProcessQueue, entry: CachedMessage): void {
    pq.complete(entry);
    this.finishOne();
  }

  private failed(pq: ProcessQueue, entry: CachedMessage, error: unknown): void {
    entry.failures++;
    try {
      // Closing: the message stays uncommitted, so it is delivered again after a restart or by another member.
      if (this.state !== 'running') return;
      try {
        if (this.broadcast) {
          // Broadcasting: retried in place a bounded number of times, then skipped (never sent to the broker).
          const where = { queue: queueKey(pq.queue), offset: entry.offset };
          if (broadcastGivesUp(this.messageOf(pq, entry), entry.failures, this.maxReconsumeTimes, error, this.logger, where)) pq.complete(entry);
          else this.scheduleRedelivery(pq, entry, error);
        } else if (this.retryMode === 'broker') this.sendBack(pq, entry, error);
        else this.scheduleRedelivery(pq, entry, error);
      } catch (failure) {
        // The failure path itself failed (e.g. a message that cannot be decoded again): never lose the message.
        this.logger.error({ queue: queueKey(pq.queue), offset: entry.offset, err: failure }, 'handling a failed message failed; redelivering it in-process');
        this.scheduleRedelivery(pq, entry, error);
      }
    } finally {
      // Always: a handler slot that is never given back blocks delivery and makes close() wait forever.
      this.finishOne();
    }
  }

  /**
   * Sends a failed message back to its broker (retry through `%RETRY%<group>` or the DLQ). Its offset stays
   * uncommitted until the broker has it; if the send-back fails, it is redelivered in-process instead.
   */
  private sendBack(pq: ProcessQueue, entry: CachedMessage, error: unknown): void {
    const message = this.messageOf(pq, entry);
    const address = this.routes.cached(pq.queue.topic)?.masters.get(pq.queue.brokerName);
    if (!address) {
      this.scheduleRedelivery(pq, entry, error);
      return;
    }
    // A throwing maxReconsumeTimes function counts as no value: the group's (broker's) limit applies.
    const max = retryLimitOf(message, this.maxReconsumeTimes, { ownFirst: false, logger: this.logger, where: { queue: queueKey(pq.queue), offset: entry.offset } });
    const header: ConsumerSendBackRequestHeader = {
      group: this.group, commitLogOffset: message.commitLogOffset, msgId: message.msgId, failureReason: failureReasonOf(error),
      ...(max === undefined ? {} : { maxReconsumeTimes: max }),
    };
    const done = this.rpc
      .request(address, RequestCode.CONSUMER_SEND_BACK, header, undefined, { timeoutMs: this.requestTimeoutMs })
      .then(expectSuccess)
      .then(
        (frame) => {
          this.logger.warn(
            { queue: queueKey(pq.queue), offset: entry.offset, msgId: header.msgId, outcome: frame.header.outcome, reconsumeTimes: frame.header.reconsumeTimes, err: error },
            'message processing failed; sent back to the broker',
          );
          pq.complete(entry);
        },
        (sendError: unknown) => {
          this.logger.warn({ queue: queueKey(pq.queue), offset: entry.offset, err: sendError }, 'send-back failed; redelivering in-process');
          if (this.state === 'running') this.scheduleRedelivery(pq, entry, error);
        },
      );
    this.sendBacks.add(done);
    void done.finally(() => this.sendBacks.delete(done));
  }

  private scheduleRedelivery(pq: ProcessQueue, entry: CachedMessage, error: unknown): void {
    const delayMs = redeliveryDelayMs(entry.failures);
    this.logger.warn({ queue: queueKey(pq.queue), offset: entry.offset, failures: entry.failures, delayMs, err: error }, 'message processing failed; redelivering later');
    const timer = setTimeout(() => {
      this.redeliveryTimers.delete(timer);
      pq.requeue(entry);
      if (pq.hasReady) this.markReady(pq);
    }, delayMs);
    this.redeliveryTimers.add(timer);
  }

  private finishOne(): void {
    this.running--;
    if (this.state === 'running') this.pump();
    else if (this.running === 0 && this.idleWaiter) {
      const resolve = this.idleWaiter;
      this.idleWaiter = undefined;
      resolve();
    }
  }

  // --- iteration ---------------------------------------------------------------------------------------

  private releaseIterated(processed: boolean): void {
    const current = this.iterating;
    if (!current) return;
    this.iterating = undefined;
    if (processed) current.pq.complete(current.entry);
    else {
      current.pq.requeue(current.entry);
      if (current.pq.hasReady) this.markReady(current.pq);
    }
  }

  /**
   * Runs an iterator call once the calls made before it have settled: two next() in flight at once would otherwise
   * both take a message, and the first one would never be acknowledged (its queue's offset stuck there).
   */
  private serializeIteration(call: () => Promise<IteratorResult<ReceivedMessage>>): Promise<IteratorResult<ReceivedMessage>> {
    const result = this.iteratorTail.then(call, call);
    this.iteratorTail = result.catch(() => undefined);
    return result;
  }

  private wakeIterator(): void {
    const wake = this.iteratorWaiter;
    this.iteratorWaiter = undefined;
    wake?.();
  }

  private async iteratorNext(): Promise<IteratorResult<ReceivedMessage>> {
    if (this.state === 'starting') await this.starting?.catch(() => undefined); // start() not awaited yet
    if (this.state === 'new') throw new ClientError(ClientErrorCode.NOT_STARTED, 'call consumer.start() (without a handler) before iterating');
    if (this.handler) throw invalidOptions('this consumer was started with a handler; it cannot also be iterated');
    this.releaseIterated(true);
    for (;;) {
      if (this.state !== 'running') return { done: true, value: undefined };
      const next = this.takeNext();
      if (next) {
        let message: ReceivedMessage;
        try {
          message = this.messageOf(next.pq, next.entry);
        } catch (error) {
          this.logger.error({ queue: queueKey(next.pq.queue), offset: next.entry.offset, err: error }, 'cannot decode a message; skipping it');
          next.pq.complete(next.entry);
          continue;
        }
        this.iterating = next;
        return { done: false, value: message };
      }
      await new Promise<void>((resolve) => {
        const previous = this.iteratorWaiter;
        this.iteratorWaiter = () => {
          previous?.();
          resolve();
        };
      });
    }
  }

  // --- offsets -----------------------------------------------------------------------------------------

  /** Commits now the offsets of every assigned queue whose committable offset moved (also runs periodically). */
  commitOffsets(): Promise<void> {
    return this.commitQueues(this.queues.values());
  }

  /**
   * Orderly: a queue's offset may be committed only while this member's lock on it is valid. Once the lease ran out,
   * another member may own the queue and have committed further: committing ours could rewind its offset.
   */
  private mayCommit(pq: ProcessQueue): boolean {
    return this.orderly === undefined || this.orderly.lockValid(pq.queue);
  }

  /** Commits, per broker in one COMMIT_OFFSET each, the queues whose committable offset moved. */
  private async commitQueues(queues: Iterable<ProcessQueue>): Promise<void> {
    // Broadcasting: into this instance's local offset file instead.
    if (this.localOffsets) return commitLocally(this.localOffsets, queues);
    const byAddress = new Map<string, { pqs: ProcessQueue[]; offsets: OffsetCommit[] }>();
    for (const pq of queues) {
      if (!this.mayCommit(pq)) continue; // every commit path (periodic, rebalance, close, release) goes through here
      const offset = pq.consumedOffset();
      if (offset < 0 || offset === pq.lastCommitted) continue;
      const address = this.routes.cached(pq.queue.topic)?.masters.get(pq.queue.brokerName);
      if (!address) continue;
      let batch = byAddress.get(address);
      if (!batch) byAddress.set(address, (batch = { pqs: [], offsets: [] }));
      batch.pqs.push(pq);
      batch.offsets.push({ topic: pq.queue.topic, queueId: pq.queue.queueId, offset });
    }
    const failures: unknown[] = [];
    await Promise.all(
      [...byAddress].map(async ([address, { pqs, offsets }]) => {
        const header: CommitOffsetRequestHeader = { group: this.group, offsets };
        try {
          expectSuccess(await this.rpc.request(address, RequestCode.COMMIT_OFFSET, header, undefined, { timeoutMs: this.requestTimeoutMs }));
          pqs.forEach((pq, i) => (pq.lastCommitted = offsets[i]!.offset));
        } catch (error) {
          failures.push(error);
        }
      }),
    );
    if (failures.length > 0) throw failures[0];
  }

  // --- orderly -----------------------------------------------------------------------------------------

  /** The orderly service (orderly-consume-service.ts) with what it needs of this consumer. */
  private createOrderly(option: PushConsumerOptions['orderly']): OrderlyConsumeService | undefined {
    if (option === undefined || option === false) return undefined;
    if (option !== true && (typeof option !== 'object' || option === null)) throw invalidOptions('orderly must be a boolean or an object of orderly options');
    if (this.broadcast) throw invalidOptions('orderly consumption needs the clustering message model');
    const max = this.maxReconsumeTimes;
    return new OrderlyConsumeService(
      {
        group: this.group,
        clientId: this.clientId,
        rpc: this.rpc,
        logger: this.logger,
        requestTimeoutMs: this.requestTimeoutMs,
        concurrency: this.concurrency,
        isRunning: () => this.state === 'running',
        brokerAddress: (queue) => this.routes.cached(queue.topic)?.masters.get(queue.brokerName),
        assigned: () => this.queues.values(),
        messageOf: (pq, entry) => this.messageOf(pq, entry),
        handle: (message) => this.handler!(message),
        maxReconsumeTimes: max,
        commit: (pqs) => this.commitQueues(pqs),
        forget: (pq) => {
          const key = queueKey(pq.queue);
          if (this.queues.get(key) !== pq) return;
          pq.drop();
          this.queues.delete(key);
          this.requestRebalance();
        },
        requestRebalance: () => this.requestRebalance(),
      },
      option === true ? {} : option,
    );
  }
}
