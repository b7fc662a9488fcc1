import type { Frame, Message } from '@litemq/protocol';
import {
  RecordField,
  RemoteError,
  RemotingError,
  RemotingErrorCode,
  RequestCode,
  RpcClient,
  encodeRecord,
  putU32BE,
  readMessageId,
  validateGroupName,
} from '@litemq/protocol';
import { ClientError, ClientErrorCode, abortedError, clientClosed, invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import { silentClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { QueueSelector } from './queue-selector.js';
import { RecordArena } from './record-arena.js';
import type { TopicRoute } from './route-cache.js';
import { DEFAULT_ROUTE_REFRESH_MS, RouteCache } from './route-cache.js';
import type { PendingSend } from './send-batcher.js';
import { SendBatcher } from './send-batcher.js';
import type { SendResult } from './send-result.js';
import type { LocalTransactionExecutor, SendInTransactionResult, TransactionChecker, TransactionSendOptions } from './transaction.js';
import { ProducerTransactions, Transaction } from './transaction.js';
import { parseSendReply, queueOffsetAt } from './send-result.js';
import { checkInteger, checkNameServers, createClientId, sleep } from './util.js';

export interface ProducerOptions {
  /** NameServer addresses (`host:port`); the next one is tried when one fails. */
  nameServers: string[];
  /** Producer group, sent with every SEND frame. */
  group?: string;
  /** Timeout of one SEND frame, in ms. Default 3000. */
  sendTimeoutMs?: number;
  /** Extra attempts for retriable failures, on another broker when the topic has one. Default 2. */
  retries?: number;
  /** Cap on the records coalesced into one frame. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Largest message body accepted. Default 4 MiB. */
  maxMessageBytes?: number;
  /** SEND frames in flight per broker while more sends are collected. Default 4. */
  maxInFlightFramesPerBroker?: number;
  /** Route refresh period, in ms. Default 30000. */
  routeRefreshMs?: number;
  /** Answers the brokers' transaction check-backs for this producer group (sync or async). */
  transactionChecker?: TransactionChecker;
  /** How often a producer with a group heartbeats it to every broker master (for check-backs). Default 30000. */
  heartbeatIntervalMs?: number;
  logger?: ClientLogger;
}

export interface SendOptions {
  /** Aborting rejects the call with ABORTED; a message already written may still be stored. */
  signal?: AbortSignal;
}

type State = 'new' | 'running' | 'closing' | 'closed';

const RETRY_BACKOFF_MS = 100;

/**
 * Sends messages to the brokers of a topic. Concurrent `send` calls to the same broker are coalesced into one
 * frame; retriable failures are retried on another broker; `close()` waits for every send in flight.
 */
export class Producer implements AsyncDisposable {
  private readonly rpc: RpcClient;
  private readonly routes: RouteCache;
  private readonly selector = new QueueSelector();
  private readonly batcher: SendBatcher;
  private readonly logger: ClientLogger;
  private readonly group: string | undefined;
  private readonly sendHeader: { producerGroup?: string };
  private readonly sendTimeoutMs: number;
  private readonly retries: number;
  private readonly maxMessageBytes: number;
  private readonly encodeOptions: { maxBodyBytes: number; allocate: (size: number) => Buffer };
  private state: State = 'new';
  private startPromise: Promise<void> | undefined;
  private outstanding = 0;
  private drained: (() => void) | undefined;
  /** Bound once, shared by every SendRequest. */
  private readonly settled = (): void => this.done();
  private readonly transactions: ProducerTransactions;
  /** Client instance id sent in heartbeats. */
  readonly clientId = createClientId();

  constructor(options: ProducerOptions) {
    if (typeof options !== 'object' || options === null) throw invalidOptions('Producer options are required');
    const nameServers = checkNameServers(options.nameServers);
    if (options.group !== undefined) validateGroupName(options.group);
    this.group = options.group;
    this.sendHeader = options.group === undefined ? {} : { producerGroup: options.group };
    this.sendTimeoutMs = checkInteger('sendTimeoutMs', options.sendTimeoutMs, 3000, 1);
    this.retries = checkInteger('retries', options.retries, 2, 0, 100);
    const maxBatchBytes = checkInteger('maxBatchBytes', options.maxBatchBytes, 1024 * 1024, 1);
    this.maxMessageBytes = checkInteger('maxMessageBytes', options.maxMessageBytes, 4 * 1024 * 1024, 1);
    this.encodeOptions = { maxBodyBytes: this.maxMessageBytes, allocate: new RecordArena().allocate };
    const maxInFlightFrames = checkInteger('maxInFlightFramesPerBroker', options.maxInFlightFramesPerBroker, 4, 1, 1024);
    this.logger = options.logger ?? silentClientLogger;
    this.rpc = new RpcClient({ logger: this.logger, onRequest: (frame, connection) => this.transactions.onServerRequest(frame, connection) });
    this.routes = new RouteCache(this.rpc, nameServers, {
      routeRefreshMs: checkInteger('routeRefreshMs', options.routeRefreshMs, DEFAULT_ROUTE_REFRESH_MS, 10),
      logger: this.logger,
    });
    this.batcher = new SendBatcher({
      maxBatchBytes,
      maxInFlightFrames,
      sendFrame: (address, records) => this.rpc.request(address, RequestCode.SEND_MESSAGE, this.sendHeader, records, { timeoutMs: this.sendTimeoutMs }),
      onFrameError: (items, error, address) => {
        for (const item of items) this.retryOrReject(item, error, address);
      },
    });
    if (options.transactionChecker !== undefined && typeof options.transactionChecker !== 'function') throw invalidOptions('transactionChecker must be a function');
    this.transactions = new ProducerTransactions({
      rpc: this.rpc, routes: this.routes, selector: this.selector, group: this.group, clientId: this.clientId, logger: this.logger, checker: options.transactionChecker,
      sendTimeoutMs: this.sendTimeoutMs, maxMessageBytes: this.maxMessageBytes, heartbeatIntervalMs: checkInteger('heartbeatIntervalMs', options.heartbeatIntervalMs, 30_000, 10),
      checkState: () => {
        const problem = this.checkState();
        if (problem) throw problem;
      },
    });
  }

  /** Starts a transaction: `await tx.send(msg)`, then `await tx.commit()` or `tx.rollback()`. Needs a producer group. */
  beginTransaction(): Promise<Transaction> {
    return Promise.resolve().then(() => this.transactions.begin());
  }

  /** Sends `message` as a half, runs `executor`, then commits or rolls back by its answer (UNKNOWN: left to check-backs). */
  sendInTransaction(message: Message, executor: LocalTransactionExecutor, options?: TransactionSendOptions): Promise<SendInTransactionResult> {
    return this.transactions.sendInTransaction(message, executor, options);
  }

  /** Starts the route refresher. Sends made before `start()` resolves wait for it. Idempotent. */
  start(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(clientClosed('producer'));
    if (!this.startPromise) {
      this.routes.start();
      this.state = 'running';
      // A producer with a group heartbeats it to the brokers so that transaction check-backs can reach it.
      this.startPromise = this.transactions.start();
    }
    return this.startPromise;
  }

  /** Sends one message; resolves once the broker stored it. */
  send(message: Message, options?: SendOptions): Promise<SendResult> {
    const problem = this.checkState();
    if (problem) return Promise.reject(problem);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    let record: Buffer;
    try {
      record = encodeRecord(message, this.encodeOptions);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    this.outstanding++;
    return new Promise<SendResult>((resolve, reject) => {
      const item = new SendRequest(this.settled, record, message.topic, message.shardingKey, resolve, reject, signal);
      const route = this.routes.cached(message.topic);
      if (route) this.dispatch(item, route, undefined);
      else this.routeAndDispatch(item, undefined, false);
    });
  }

  /** Sends messages of one topic in one frame to one queue (by the first message's shardingKey, else round-robin). */
  async sendBatch(messages: Message[], options?: SendOptions): Promise<SendResult[]> {
    const problem = this.checkState();
    if (problem) throw problem;
    if (!Array.isArray(messages) || messages.length === 0) throw invalidOptions('sendBatch needs a non-empty array of messages');
    const topic = messages[0]!.topic;
    if (messages.some((m) => m.topic !== topic)) throw invalidOptions('every message of a batch must have the same topic');
    const records = messages.map((m) => encodeRecord(m, this.encodeOptions));
    const signal = options?.signal;
    this.outstanding++;
    try {
      let avoid: string | undefined;
      let lastError: unknown;
      for (let attempt = 0; attempt <= this.retries; attempt++) {
        if (signal?.aborted) throw abortedError(signal);
        if (this.state === 'closed') throw clientClosed('producer');
        const route = attempt === 0 ? await this.routes.get(topic, signal) : await this.routes.refresh(topic, signal).catch(() => this.routes.get(topic, signal));
        const queue = this.selectQueue(route, messages[0]!.shardingKey, avoid);
        // Each retry patches its own copies (see dispatch): the earlier frame may still sit unsent in a socket buffer.
        if (attempt > 0) for (let i = 0; i < records.length; i++) records[i] = Buffer.from(records[i]!);
        for (const record of records) record.writeUInt32BE(queue.queueId, RecordField.QUEUE_ID);
        const address = route.masters.get(queue.brokerName)!;
        try {
          const frame: Frame = await this.rpc.request(address, RequestCode.SEND_BATCH, this.sendHeader, records, { timeoutMs: this.sendTimeoutMs, signal });
          const reply = parseSendReply(frame, records.length, queue.brokerName);
          return records.map((record, i) => ({
            msgId: readMessageId(record, RecordField.MSG_ID),
            topic,
            queueId: queue.queueId,
            queueOffset: queueOffsetAt(reply, i),
            brokerName: reply.brokerName,
            status: reply.status,
          }));
        } catch (error) {
          lastError = error;
          if (!isRetriable(error)) throw error;
          this.logger.warn({ topic, broker: queue.brokerName, attempt: attempt + 1, err: error }, 'batch send failed; retrying');
          avoid = queue.brokerName;
          // Nowhere else to go: give the broker a moment before asking it again.
          if (!route.writeQueues.some((q) => q.brokerName !== avoid) && attempt < this.retries) await sleep(RETRY_BACKOFF_MS * (attempt + 1), signal);
        }
      }
      throw lastError;
    } finally {
      this.done();
    }
  }

  /** Writes one SEND_MESSAGE frame that the broker does not answer: no delivery guarantee. */
  async sendOneway(message: Message): Promise<void> {
    const problem = this.checkState();
    if (problem) throw problem;
    const record = encodeRecord(message, this.encodeOptions);
    const route = await this.routes.get(message.topic);
    const queue = this.selectQueue(route, message.shardingKey, undefined);
    record.writeUInt32BE(queue.queueId, RecordField.QUEUE_ID);
    await this.rpc.oneway(route.masters.get(queue.brokerName)!, RequestCode.SEND_MESSAGE, this.sendHeader, record);
  }

  /** Stops accepting sends, waits for every send in flight (including retries), then closes connections. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      await this.waitDrained();
      return;
    }
    this.state = 'closing';
    await this.waitDrained();
    await this.transactions.stop();
    this.routes.stop();
    await this.rpc.close();
    this.state = 'closed';
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Producer group given at construction. */
  get producerGroup(): string | undefined {
    return this.group;
  }

  private checkState(): Error | undefined {
    if (this.state === 'running') return undefined;
    if (this.state === 'new') return new ClientError(ClientErrorCode.NOT_STARTED, 'call producer.start() before sending');
    return clientClosed('producer');
  }

  private waitDrained(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** A send settled (resolved, rejected or aborted). */
  private done(): void {
    this.outstanding--;
    if (this.outstanding === 0 && this.drained) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  private selectQueue(route: TopicRoute, shardingKey: string | undefined, avoidBroker: string | undefined): MessageQueue {
    const queue = this.selector.select(route, shardingKey, avoidBroker);
    if (!queue) throw new ClientError(ClientErrorCode.NO_ROUTE, `topic ${route.data.topic} has no writable queue on a broker with a master`, { retriable: true });
    return queue;
  }

  /** Picks the queue, patches its id into the record and hands the send to the batcher. */
  private dispatch(item: PendingSend, route: TopicRoute, avoidBroker: string | undefined): void {
    if (item.settled) return;
    let queue: MessageQueue;
    try {
      queue = this.selectQueue(route, item.shardingKey, avoidBroker);
    } catch (error) {
      item.settled = true;
      item.reject(error);
      return;
    }
    // A retry gets its own copy of the record: the earlier frame (timed out, say) may still sit unsent in a socket
    // buffer that holds the same bytes, and must not go out with the new queue id.
    if (item.attempts > 0) item.record = Buffer.from(item.record);
    item.attempts++;
    item.brokerName = queue.brokerName;
    item.queueId = queue.queueId;
    putU32BE(item.record, RecordField.QUEUE_ID, queue.queueId); // records are longer than their header
    this.batcher.add(route.masters.get(queue.brokerName)!, item);
  }

  private routeAndDispatch(item: PendingSend, avoidBroker: string | undefined, refresh: boolean): void {
    const fetch = refresh ? this.routes.refresh(item.topic).catch(() => this.routes.get(item.topic)) : this.routes.get(item.topic);
    fetch.then(
      (route) => this.dispatch(item, route, avoidBroker),
      (error: unknown) => {
        if (item.settled) return;
        item.settled = true;
        item.reject(error);
      },
    );
  }

  private retryOrReject(item: PendingSend, error: unknown, address: string): void {
    const topicGone = error instanceof RemoteError && error.code === 'TOPIC_NOT_EXIST';
    const canRetry = (isRetriable(error) || (topicGone && item.attempts === 1)) && item.attempts <= this.retries && this.state !== 'closed';
    if (!canRetry) {
      if (topicGone) this.routes.refresh(item.topic).catch(() => undefined);
      item.settled = true;
      item.reject(error);
      return;
    }
    this.logger.debug({ topic: item.topic, broker: item.brokerName, address, attempt: item.attempts, err: error }, 'send failed; retrying');
    // Ordered (sharding-key) messages stay on their queue, so they retry on the same broker after a pause.
    const avoid = item.shardingKey === undefined ? item.brokerName : undefined;
    const route = this.routes.cached(item.topic);
    const hasOtherBroker = avoid !== undefined && route !== undefined && route.writeQueues.some((q) => q.brokerName !== avoid);
    if (hasOtherBroker && !topicGone) {
      this.routes.refresh(item.topic).catch(() => undefined);
      this.dispatch(item, route, avoid);
      return;
    }
    sleep(RETRY_BACKOFF_MS * item.attempts).then(() => this.routeAndDispatch(item, avoid, true), () => undefined);
  }
}

/** Whether sending again (maybe elsewhere) is safe: transport failures other than ABORTED, retriable responses. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof RemotingError) return error.code !== RemotingErrorCode.REQUEST_ABORTED;
  if (error instanceof RemoteError) return error.retriable;
  if (error instanceof ClientError) return error.retriable;
  return false;
}

/**
 * One pending `send`: a plain object with methods (no closures per message) that is also the AbortSignal
 * listener, so a send costs one record buffer, this object and the caller's promise.
 */
class SendRequest implements PendingSend {
  brokerName = '';
  queueId = 0;
  attempts = 0;
  settled = false;

  constructor(
    private readonly onSettled: () => void,
    public record: Buffer,
    readonly topic: string,
    readonly shardingKey: string | undefined,
    private readonly onResolve: (result: SendResult) => void,
    private readonly onReject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal) signal.addEventListener('abort', this, { once: true });
  }

  resolve(result: SendResult): void {
    if (this.signal) this.signal.removeEventListener('abort', this);
    this.onSettled();
    this.onResolve(result);
  }

  reject(error: unknown): void {
    if (this.signal) this.signal.removeEventListener('abort', this);
    this.onSettled();
    this.onReject(error);
  }

  /** The caller's signal fired: reject now; a frame already written may still store the message. */
  handleEvent(): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettled();
    this.onReject(abortedError(this.signal!));
  }
}
