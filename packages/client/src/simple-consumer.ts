import type {
  ChangeInvisibleTimeRequestHeader, ConsumeFromWhere, Frame, FrameHeader, HeartbeatRequestHeader, PopMessageRequestHeader, PopSubscription, RpcConnection,
} from '@litemq/protocol';
import {
  FrameFlag, POP_MAX_COUNT, POP_MAX_INVISIBLE_MS, POP_MIN_INVISIBLE_MS, RemotingError, RemotingErrorCode, RequestCode, ResponseCode, RpcClient, emptySections,
  expectSuccess, parseReceiptHandle, readRecordSections, validateConsumerGroupName, validateTopicName,
} from '@litemq/protocol';
import { ClientError, ClientErrorCode, abortedError, clientClosed, invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import { silentClientLogger } from './logger.js';
import type { ReceivedPopMessage } from './pop-message.js';
import { PopMessage } from './pop-message.js';
import { DEFAULT_ROUTE_REFRESH_MS, RouteCache } from './route-cache.js';
import type { SubscriptionFilter, TagFilter } from './tag-expression.js';
import { parseSubscription } from './tag-expression.js';
import { checkInteger, checkNameServers, createClientId } from './util.js';

export interface SimpleConsumerOptions {
  nameServers: string[];
  /**
   * Consumer group: every SimpleConsumer of the group shares every queue; each message goes to one of them. Letters,
   * digits, `-` and `_`, at most 120 characters (GROUP_NAME_INVALID). A group is all simple consumers or all push
   * consumers: brokers refuse to mix them (CONSUME_TYPE_CONFLICT).
   */
  group: string;
  /** How long receive() waits for a message when none is visible (long polling), in ms. Default 15000 (the broker caps it). */
  awaitDurationMs?: number;
  /** Where a queue the group has never consumed starts. Default LAST_OFFSET. */
  consumeFromWhere?: ConsumeFromWhere;
  /** Start time (ms since epoch) for consumeFromWhere TIMESTAMP. Default: 30 minutes ago. */
  consumeTimestamp?: number;
  /** Deliveries after the first before an unacknowledged message goes to `%DLQ%<group>` (default: the broker's, 16). */
  maxReconsumeTimes?: number;
  /** Timeout of requests other than the long poll itself, in ms. Default 3000. */
  requestTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  routeRefreshMs?: number;
  logger?: ClientLogger;
}

export interface ReceiveOptions {
  /** Overrides the consumer's awaitDurationMs for this call (0: answer at once). */
  awaitDurationMs?: number;
  signal?: AbortSignal;
}

export interface AckOptions {
  signal?: AbortSignal;
}

/** What ack() and changeInvisibleDuration() take: a received message or its receipt handle. */
export type ReceiptTarget = string | Pick<ReceivedPopMessage, 'receiptHandle'> & Partial<Pick<ReceivedPopMessage, 'invisibleUntil'>>;

/** `starting`: start() is under way (close() then waits for it and start() fails with CLIENT_CLOSED). */
type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

interface PopTarget {
  brokerName: string;
  address: string;
  subscriptions: PopSubscription[];
}

/**
 * Pop consumer (RocketMQ 5 SimpleConsumer): the application asks for messages with `receive(max, invisibleMs)`;
 * each one is then invisible to the whole group for `invisibleMs` and must be acknowledged with `ack()` before that
 * time, or it is delivered again (to any consumer of the group) with reconsumeTimes + 1, and after
 * maxReconsumeTimes redeliveries it goes to `%DLQ%<group>`. `changeInvisibleDuration()` buys more time and returns
 * a new receipt handle. No rebalance: any number of simple consumers share every queue, and the broker never gives
 * one message to two of them while it is invisible.
 *
 *   const consumer = new SimpleConsumer({ nameServers: ['127.0.0.1:9876'], group: 'workers' });
 *   consumer.subscribe('orders', 'paid || refunded');
 *   await consumer.start();
 *   for (const message of await consumer.receive(16, 30_000)) {
 *     await handle(message);
 *     await consumer.ack(message);
 *   }
 */
export class SimpleConsumer implements AsyncDisposable {
  readonly clientId = createClientId();
  readonly group: string;
  private readonly rpc: RpcClient;
  private readonly routes: RouteCache;
  private readonly logger: ClientLogger;
  private readonly subscriptions = new Map<string, TagFilter>();
  private readonly awaitDurationMs: number;
  private readonly fromWhere: ConsumeFromWhere;
  private readonly consumeTimestamp: number;
  private readonly maxReconsumeTimes: number | undefined;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private state: State = 'new';
  /** The start() in progress, which close() waits for. */
  private starting: Promise<void> | undefined;
  private nextTarget = 0;
  private closePromise: Promise<void> | undefined;

  constructor(options: SimpleConsumerOptions) {
    if (typeof options !== 'object' || options === null) throw invalidOptions('SimpleConsumer options are required');
    const nameServers = checkNameServers(options.nameServers);
    validateConsumerGroupName(options.group);
    this.group = options.group;
    const fromWhere = options.consumeFromWhere ?? 'LAST_OFFSET';
    if (!['LAST_OFFSET', 'FIRST_OFFSET', 'TIMESTAMP'].includes(fromWhere)) throw invalidOptions('consumeFromWhere must be LAST_OFFSET, FIRST_OFFSET or TIMESTAMP');
    this.fromWhere = fromWhere;
    this.consumeTimestamp = checkInteger('consumeTimestamp', options.consumeTimestamp, Date.now() - 30 * 60_000, 0);
    this.awaitDurationMs = checkInteger('awaitDurationMs', options.awaitDurationMs, 15_000, 0);
    this.maxReconsumeTimes = options.maxReconsumeTimes === undefined ? undefined : checkInteger('maxReconsumeTimes', options.maxReconsumeTimes, 16, 0, 1000);
    this.requestTimeoutMs = checkInteger('requestTimeoutMs', options.requestTimeoutMs, 3000, 1);
    this.heartbeatIntervalMs = checkInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, 30_000, 10);
    this.logger = options.logger ?? silentClientLogger;
    this.rpc = new RpcClient({ logger: this.logger, onRequest: (frame, connection) => this.onServerRequest(frame, connection) });
    this.routes = new RouteCache(this.rpc, nameServers, {
      routeRefreshMs: checkInteger('routeRefreshMs', options.routeRefreshMs, DEFAULT_ROUTE_REFRESH_MS, 10),
      requestTimeoutMs: this.requestTimeoutMs,
      logger: this.logger,
    });
  }

  /**
   * Subscribes to `topic` with a tag expression (`*`, the default, or `tagA || tagB`) or `{ tags?, sql? }` (SQL-92
   * subset over the properties). The broker filters exactly: messages that do not match are never received. Every
   * consumer of a group should subscribe alike. May be called before or after start().
   */
  subscribe(topic: string, expression: string | SubscriptionFilter = '*'): this {
    if (this.state === 'closing' || this.state === 'closed') throw clientClosed('consumer');
    validateTopicName(topic);
    this.subscriptions.set(topic, parseSubscription(expression));
    if (this.state === 'running' || this.state === 'starting') void this.routes.get(topic).then(() => this.heartbeat(), (error: unknown) => this.logger.warn({ topic, err: error }, 'no route yet for a subscribed topic'));
    return this;
  }

  unsubscribe(topic: string): this {
    this.subscriptions.delete(topic);
    return this;
  }

  /** Topics subscribed to. */
  get topics(): string[] {
    return [...this.subscriptions.keys()];
  }

  /** Looks up the routes of the subscribed topics and announces the consumer to their brokers. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw this.state === 'running' || this.state === 'starting' ? invalidOptions('the consumer is already started') : clientClosed('consumer');
    if (this.subscriptions.size === 0) throw invalidOptions('subscribe() to at least one topic before start()');
    // Set synchronously: a close() from here on waits for this start, which then fails with CLIENT_CLOSED.
    this.state = 'starting';
    const starting = this.doStart();
    this.starting = starting;
    try {
      await starting;
    } finally {
      this.starting = undefined;
    }
  }

  /** After each await, stops with CLIENT_CLOSED if close() was called meanwhile (close() cleans up; no timer is created after). */
  private async doStart(): Promise<void> {
    this.routes.start();
    for (const topic of this.subscriptions.keys()) {
      await this.routes.get(topic).catch((error: unknown) => this.logger.warn({ topic, err: error }, 'no route yet for a subscribed topic'));
      this.throwIfClosing();
    }
    await this.heartbeat();
    this.throwIfClosing();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    this.state = 'running';
  }

  private throwIfClosing(): void {
    if (this.state !== 'starting') throw clientClosed('consumer');
  }

  /**
   * Up to `maxCount` messages (1-1024), each invisible to the group for `invisibleMs` (100 ms - 12 h) from now.
   * With none visible, waits up to awaitDurationMs for one to arrive, then resolves with an empty array.
   * Brokers are asked in turn (without waiting), the last one with the wait; the starting broker rotates per call.
   * Messages taken by a call that is aborted (or times out) stay invisible until their time, then come back.
   */
  async receive(maxCount = 16, invisibleMs = 30_000, options: ReceiveOptions = {}): Promise<ReceivedPopMessage[]> {
    this.assertRunning();
    checkInteger('maxCount', maxCount, 16, 1, POP_MAX_COUNT);
    checkInteger('invisibleMs', invisibleMs, 30_000, POP_MIN_INVISIBLE_MS, POP_MAX_INVISIBLE_MS);
    const waitMs = checkInteger('awaitDurationMs', options.awaitDurationMs, this.awaitDurationMs, 0);
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    return this.track(this.receiveFrom(await this.targets(), maxCount, invisibleMs, waitMs, signal, options.signal));
  }

  private async receiveFrom(targets: PopTarget[], maxCount: number, invisibleMs: number, waitMs: number, signal: AbortSignal, userSignal: AbortSignal | undefined): Promise<ReceivedPopMessage[]> {
    if (targets.length === 0) throw new ClientError(ClientErrorCode.NO_ROUTE, `no broker master serves ${this.topics.join(', ')}`, { retriable: true });
    const first = this.nextTarget++ % targets.length;
    if (this.nextTarget >= Number.MAX_SAFE_INTEGER) this.nextTarget = 0;
    let lastError: unknown;
    let answered = false;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(first + i) % targets.length]!;
      const pollMs = i === targets.length - 1 ? waitMs : 0;
      try {
        const messages = await this.popFrom(target, maxCount, invisibleMs, pollMs, signal);
        answered = true;
        if (messages.length > 0) return messages;
      } catch (error) {
        if (signal.aborted) throw this.closing.signal.aborted ? clientClosed('consumer') : abortedError(userSignal!);
        lastError = error;
        this.logger.warn({ broker: target.brokerName, err: error }, 'pop failed');
        for (const subscription of target.subscriptions) this.routes.refresh(subscription.topic).catch(() => undefined);
      }
    }
    if (!answered) throw lastError;
    return [];
  }

  private async popFrom(target: PopTarget, maxCount: number, invisibleMs: number, pollMs: number, signal: AbortSignal): Promise<ReceivedPopMessage[]> {
    const header: PopMessageRequestHeader = {
      group: this.group, subscriptions: target.subscriptions, maxCount, invisibleMs, pollMs, fromWhere: this.fromWhere,
      ...(this.fromWhere === 'TIMESTAMP' ? { timestamp: this.consumeTimestamp } : {}),
      ...(this.maxReconsumeTimes === undefined ? {} : { maxReconsumeTimes: this.maxReconsumeTimes }),
    };
    const frame = expectSuccess(await this.rpc.request(target.address, RequestCode.POP_MESSAGE, header, undefined, { timeoutMs: pollMs + this.requestTimeoutMs, signal }));
    return this.decode(frame, target.brokerName);
  }

  private decode(frame: Frame, brokerName: string): ReceivedPopMessage[] {
    const handles = frame.header.handles;
    if (!Array.isArray(handles) || !handles.every((handle) => typeof handle === 'string')) {
      throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'POP_MESSAGE answered without receipt handles');
    }
    const body = frame.body;
    const out: ReceivedPopMessage[] = [];
    const sections = emptySections();
    for (let start = 0; start < body.length; start += sections.totalSize) {
      readRecordSections(body, start, body.length, sections, Number.MAX_SAFE_INTEGER);
      const handle = handles[out.length] as string | undefined;
      if (handle === undefined) break;
      out.push(new PopMessage(body, start, start + sections.totalSize, handle, parseReceiptHandle(handle).invisibleUntil, brokerName));
    }
    if (out.length !== handles.length) throw new ClientError(ClientErrorCode.BAD_RESPONSE, `POP_MESSAGE answered ${handles.length} handles for ${out.length} messages`);
    return out;
  }

  /**
   * Acknowledges a received message (or its receipt handle): it will not be delivered again. Fails with code
   * RECEIPT_HANDLE_EXPIRED once its invisible time has passed (it is delivered again), RECEIPT_HANDLE_STALE for a
   * handle replaced by changeInvisibleDuration, RECEIPT_HANDLE_INVALID for a string that is not a handle of this group.
   */
  async ack(target: ReceiptTarget, options: AckOptions = {}): Promise<void> {
    this.assertRunning();
    const handle = typeof target === 'string' ? target : target.receiptHandle;
    await this.track(this.handleRequest(handle, RequestCode.ACK_MESSAGE, { group: this.group, handle }, options.signal));
  }

  /**
   * Keeps a received message invisible for `invisibleMs` (100 ms - 12 h) from now, e.g. while a long task runs.
   * Resolves with the new receipt handle (the old one stops working); given a message, updates its receiptHandle
   * and invisibleUntil too. Fails like ack() for an expired, replaced or acknowledged handle.
   */
  async changeInvisibleDuration(target: ReceiptTarget, invisibleMs: number, options: AckOptions = {}): Promise<string> {
    this.assertRunning();
    checkInteger('invisibleMs', invisibleMs, 30_000, POP_MIN_INVISIBLE_MS, POP_MAX_INVISIBLE_MS);
    const handle = typeof target === 'string' ? target : target.receiptHandle;
    const header: ChangeInvisibleTimeRequestHeader = { group: this.group, handle, invisibleMs };
    const frame = await this.track(this.handleRequest(handle, RequestCode.CHANGE_INVISIBLE_TIME, header, options.signal));
    const next = frame.header.handle;
    if (typeof next !== 'string') throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'CHANGE_INVISIBLE_TIME answered without a handle');
    const invisibleUntil = parseReceiptHandle(next).invisibleUntil;
    if (typeof target !== 'string') {
      target.receiptHandle = next;
      if ('invisibleUntil' in target) target.invisibleUntil = invisibleUntil;
    }
    return next;
  }

  /** Sends a request about a handle to the broker that issued it; once more after a route refresh if the broker moved. */
  private async handleRequest(handle: string, code: number, header: FrameHeader, signal: AbortSignal | undefined): Promise<Frame> {
    const { brokerName } = parseReceiptHandle(handle);
    for (let attempt = 0; ; attempt++) {
      const address = await this.brokerAddress(brokerName, attempt > 0);
      try {
        return expectSuccess(await this.rpc.request(address, code, header, undefined, { timeoutMs: this.requestTimeoutMs, signal }));
      } catch (error) {
        if (signal?.aborted) throw abortedError(signal);
        // Not connected: the broker may have restarted elsewhere. Both requests are safe to repeat.
        const unreachable = error instanceof RemotingError && error.code === RemotingErrorCode.CONNECT_FAILED;
        if (!unreachable || attempt > 0) throw error;
      }
    }
  }

  /** The master address of a broker serving one of the subscribed topics. */
  private async brokerAddress(brokerName: string, refresh: boolean): Promise<string> {
    const find = (): string | undefined => {
      for (const topic of this.subscriptions.keys()) {
        const address = this.routes.cached(topic)?.masters.get(brokerName);
        if (address) return address;
      }
      return undefined;
    };
    let address = refresh ? undefined : find();
    if (!address) {
      await Promise.allSettled(this.topics.map((topic) => this.routes.refresh(topic)));
      address = find();
    }
    if (!address) throw new ClientError(ClientErrorCode.NO_ROUTE, `no master of broker ${brokerName} serves the subscribed topics`, { retriable: true });
    return address;
  }

  /** Brokers to pop from, each with the subscriptions it has readable queues for. */
  private async targets(): Promise<PopTarget[]> {
    const byBroker = new Map<string, PopTarget>();
    for (const [topic, filter] of this.subscriptions) {
      let route;
      try {
        route = this.routes.cached(topic) ?? (await this.routes.get(topic));
      } catch (error) {
        this.logger.warn({ topic, err: error }, 'no route for a subscribed topic');
        continue;
      }
      const readable = new Set(route.readQueues.map((queue) => queue.brokerName));
      for (const [brokerName, address] of route.masters) {
        if (!readable.has(brokerName)) continue;
        let target = byBroker.get(brokerName);
        if (!target) byBroker.set(brokerName, (target = { brokerName, address, subscriptions: [] }));
        target.subscriptions.push({ topic, ...(filter.all ? {} : { tags: [...filter.tags] }), ...(filter.sql ? { sql: filter.sql.expression } : {}) });
      }
    }
    return [...byBroker.values()].sort((a, b) => (a.brokerName < b.brokerName ? -1 : 1));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => undefined);
    return promise;
  }

  private assertRunning(): void {
    if (this.state === 'new' || this.state === 'starting') throw new ClientError(ClientErrorCode.NOT_STARTED, 'call consumer.start() first');
    if (this.state !== 'running') throw clientClosed('consumer');
  }

  private masterAddresses(): string[] {
    const addresses = new Set<string>();
    for (const topic of this.subscriptions.keys()) for (const address of this.routes.cached(topic)?.masters.values() ?? []) addresses.add(address);
    return [...addresses];
  }

  private async heartbeat(): Promise<void> {
    const header: HeartbeatRequestHeader = {
      clientId: this.clientId,
      producerGroups: [],
      consumers: [{
        group: this.group, consumeModel: 'CLUSTERING', consumeType: 'POP', fromWhere: this.fromWhere,
        ...(this.maxReconsumeTimes === undefined ? {} : { maxReconsumeTimes: this.maxReconsumeTimes }),
        subscriptions: [...this.subscriptions].map(([topic, filter]) => (filter.sql ? { topic, expression: filter.expression, sql: filter.sql.expression } : { topic, expression: filter.expression })),
      }],
    };
    await Promise.all(this.masterAddresses().map((address) =>
      this.rpc.request(address, RequestCode.HEARTBEAT, header, undefined, { timeoutMs: this.requestTimeoutMs })
        .then(expectSuccess)
        .catch((error: unknown) => this.logger.warn({ broker: address, err: error }, 'heartbeat failed'))));
  }

  /** Broker → client requests: group membership notices are for rebalancing consumers; a simple consumer has none. */
  private onServerRequest(frame: Frame, connection: RpcConnection): void {
    if ((frame.flags & FrameFlag.ONEWAY) !== 0) return;
    if (frame.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) connection.respond(frame, ResponseCode.SUCCESS);
    else connection.respond(frame, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, { error: `simple consumer does not handle request code ${frame.code}`, errorCode: 'REQUEST_CODE_NOT_SUPPORTED' });
  }

  /**
   * Stops: receive() calls in flight are aborted (CLIENT_CLOSED; what they popped comes back after its invisible
   * time), acks in flight finish, and the consumer leaves its brokers. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(): Promise<void> {
    // A consumer still starting may have announced itself already: it leaves its brokers too.
    const wasRunning = this.state === 'running' || this.state === 'starting';
    const starting = this.starting;
    this.state = 'closing';
    // A start() under way stops at its next step (CLIENT_CLOSED) and creates no timer after it.
    if (starting) await starting.catch(() => undefined);
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.routes.stop();
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
    if (wasRunning) {
      await Promise.all(this.masterAddresses().map((address) =>
        this.rpc.request(address, RequestCode.UNREGISTER_CLIENT, { clientId: this.clientId, consumerGroup: this.group }, undefined, { timeoutMs: this.requestTimeoutMs })
          .then(expectSuccess)
          .catch((error: unknown) => this.logger.warn({ broker: address, err: error }, 'unregister failed'))));
    }
    await this.rpc.close();
    this.state = 'closed';
  }
}
