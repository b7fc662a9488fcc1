import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import type { Frame, RegisterBrokerRequestHeader, RpcConnection, RpcHandler, RpcReply, UnregisterBrokerRequestHeader } from '@litemq/protocol';
import { RequestCode, ResponseCode, RpcServer, rpcFailure } from '@litemq/protocol';
import { MessageStore } from '@litemq/storage';
import type { BrokerContext } from './broker-context.js';
import { ConsumerManager } from './consumer-manager.js';
import { ConsumerOffsetManager } from './consumer-offset-manager.js';
import { LongPollingService } from './long-polling-service.js';
import type { RegistrationOutcome } from './nameserver-registrar.js';
import { NameServerRegistrar } from './nameserver-registrar.js';
import type { BrokerOptions, ResolvedBrokerOptions } from './options.js';
import { resolveBrokerOptions } from './options.js';
import { commitOffsetProcessor } from './processors/commit-offset.js';
import { createTopicProcessor } from './processors/create-topic.js';
import { deleteTopicProcessor } from './processors/delete-topic.js';
import { getBrokerStatusProcessor } from './processors/get-broker-status.js';
import { getConsumerListProcessor } from './processors/get-consumer-list.js';
import { getConsumerOffsetsProcessor } from './processors/get-consumer-offsets.js';
import { getTopicConfigProcessor } from './processors/get-topic-config.js';
import { heartbeatProcessor } from './processors/heartbeat.js';
import { listTopicsProcessor } from './processors/list-topics.js';
import { pullMessageProcessor } from './processors/pull-message.js';
import { lockBatchProcessor, unlockBatchProcessor } from './processors/queue-lock.js';
import { queryOffsetByTimeProcessor } from './processors/query-offset-by-time.js';
import { queryOffsetsProcessor } from './processors/query-offsets.js';
import { sendMessageProcessor } from './processors/send-message.js';
import {
  cancelScheduledProcessor, cronDeleteProcessor, cronListProcessor, cronNextProcessor, cronPauseProcessor, cronPutProcessor, cronResumeProcessor,
} from './processors/delay-admin.js';
import type { DelayService } from './delay-service.js';
import { openDelay } from './delay-service.js';
import { endTransactionProcessor, forceEndTransactionProcessor, listPendingTransactionsProcessor, sendHalfProcessor } from './processors/transactions.js';
import { unregisterClientProcessor } from './processors/unregister-client.js';
import { consumerSendBackProcessor, dlqGetProcessor, dlqListProcessor, dlqPurgeProcessor, dlqResendProcessor } from './processors/consume-semantics.js';
import { resetOffsetProcessor } from './processors/reset-offset.js';
import { ackMessageProcessor, changeInvisibleTimeProcessor } from './processors/pop-ack.js';
import { popMessageProcessor } from './processors/pop-message.js';
import type { PopService } from './pop-service.js';
import { openPop } from './pop-service.js';
import type { RetryService } from './retry-service.js';
import { openRetry } from './retry-service.js';
import { ProducerManager } from './producer-manager.js';
import { TopicConfigManager } from './topic-config-manager.js';
import { openTransactions } from './transaction-wiring.js';

const PROCESSORS: ReadonlyArray<readonly [number, (context: BrokerContext) => RpcHandler]> = [
  [RequestCode.SEND_MESSAGE, sendMessageProcessor],
  [RequestCode.SEND_BATCH, sendMessageProcessor],
  [RequestCode.PULL_MESSAGE, pullMessageProcessor],
  [RequestCode.COMMIT_OFFSET, commitOffsetProcessor],
  [RequestCode.QUERY_OFFSETS, queryOffsetsProcessor],
  [RequestCode.QUERY_OFFSET_BY_TIME, queryOffsetByTimeProcessor],
  [RequestCode.HEARTBEAT, heartbeatProcessor],
  [RequestCode.UNREGISTER_CLIENT, unregisterClientProcessor],
  [RequestCode.GET_CONSUMER_LIST, getConsumerListProcessor],
  [RequestCode.GET_CONSUMER_OFFSETS, getConsumerOffsetsProcessor],
  [RequestCode.LOCK_BATCH_MQ, lockBatchProcessor],
  [RequestCode.UNLOCK_BATCH_MQ, unlockBatchProcessor],
  [RequestCode.CREATE_TOPIC, createTopicProcessor],
  [RequestCode.DELETE_TOPIC, deleteTopicProcessor],
  [RequestCode.GET_TOPIC_CONFIG, getTopicConfigProcessor],
  [RequestCode.LIST_TOPICS, listTopicsProcessor],
  [RequestCode.GET_BROKER_STATUS, getBrokerStatusProcessor],
  [RequestCode.CANCEL_SCHEDULED, cancelScheduledProcessor],
  [RequestCode.CRON_PUT, cronPutProcessor],
  [RequestCode.CRON_DELETE, cronDeleteProcessor],
  [RequestCode.CRON_PAUSE, cronPauseProcessor],
  [RequestCode.CRON_RESUME, cronResumeProcessor],
  [RequestCode.CRON_LIST, cronListProcessor],
  [RequestCode.CRON_NEXT, cronNextProcessor],
  [RequestCode.SEND_HALF, sendHalfProcessor],
  [RequestCode.END_TRANSACTION, endTransactionProcessor],
  [RequestCode.LIST_PENDING_TRANSACTIONS, listPendingTransactionsProcessor],
  [RequestCode.FORCE_END_TRANSACTION, forceEndTransactionProcessor],
  [RequestCode.CONSUMER_SEND_BACK, consumerSendBackProcessor],
  [RequestCode.DLQ_LIST, dlqListProcessor],
  [RequestCode.DLQ_GET, dlqGetProcessor],
  [RequestCode.DLQ_RESEND, dlqResendProcessor],
  [RequestCode.DLQ_PURGE, dlqPurgeProcessor],
  [RequestCode.RESET_OFFSET, resetOffsetProcessor],
  [RequestCode.POP_MESSAGE, popMessageProcessor],
  [RequestCode.ACK_MESSAGE, ackMessageProcessor],
  [RequestCode.CHANGE_INVISIBLE_TIME, changeInvisibleTimeProcessor],
];

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A LiteMQ broker: a TCP server answering producers, consumers and admins from one MessageStore, with
 * topic config, consumer groups and offsets, long polling and NameServer registration.
 *
 *   const broker = await Broker.start({ brokerName: 'broker-a', dataDir: './data' });
 *   ...
 *   await broker.close();
 */
export class Broker {
  private readonly server: RpcServer;
  private readonly handlers = new Map<number, RpcHandler>();
  private ready = false;
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribeStore: (() => void) | undefined;
  /** Delayed messages and cron jobs (timer store, cron scheduler). */
  delay: DelayService | undefined;
  /** Retry with backoff and dead letters of consumer groups. */
  retry: RetryService | undefined;
  /** Pop consumption: in-flight checkpoints, held pops, redelivery of expired pops. */
  pop: PopService | undefined;
  private transactions: { close(): Promise<void> } | undefined;
  private context!: BrokerContext;
  private registrar!: NameServerRegistrar;
  /** The broker's message store. */
  store!: MessageStore;
  /** `host:port` clients reach this broker at. */
  address = '';
  readonly startedAt = Date.now();

  private constructor(
    readonly options: ResolvedBrokerOptions,
    readonly logger: Logger,
    /** The broker's topics (also usable in-process, e.g. to create system topics). */
    readonly topics: TopicConfigManager,
    /** Committed offsets of consumer groups. */
    readonly offsets: ConsumerOffsetManager,
    readonly consumers: ConsumerManager,
    readonly producers: ProducerManager,
    private readonly longPolling: LongPollingService,
  ) {
    this.server = new RpcServer({
      maxConnections: options.maxConnections,
      maxInFlightPerConnection: options.maxInFlightPerConnection,
      maxFrameBytes: options.maxFrameBytes,
      logger,
      onDisconnect: (connection) => this.onDisconnect(connection),
    });
    for (const [code] of PROCESSORS) this.server.register(code, (frame, connection) => this.dispatch(code, frame, connection));
  }

  /** Validates the options, loads config and offsets, opens the store, listens, and registers with the NameServers. */
  static async start(options: BrokerOptions): Promise<Broker> {
    const resolved = resolveBrokerOptions(options);
    const logger = (resolved.logger ?? pino({ name: 'litemq-broker', level: 'warn' })).child({ broker: resolved.brokerName });
    const topics = await TopicConfigManager.load(resolved.dataDir);
    const offsets = await ConsumerOffsetManager.load(resolved.dataDir, { maxGroups: resolved.maxConsumerGroups });
    const broker = new Broker(
      resolved, logger, topics, offsets, new ConsumerManager(resolved.clientExpiryMs, logger), new ProducerManager(resolved.clientExpiryMs),
      new LongPollingService(resolved.maxHeldPullsPerConnection),
    );
    try {
      await broker.open();
    } catch (error) {
      await broker.server.close(0);
      throw error;
    }
    return broker;
  }

  private async open(): Promise<void> {
    const { options, logger } = this;
    const port = await this.server.listen(options.port, options.host);
    this.address = formatAddress(options.host, port);
    this.store = await MessageStore.open(join(options.dataDir, 'store'), {
      maxBodyBytes: options.maxMessageBytes,
      storeHost: this.address,
      logger: logger.child({ component: 'store' }),
      ...options.store,
    });
    this.registrar = new NameServerRegistrar(options.nameServers, () => this.registration(), options.registerIntervalMs, options.registerTimeoutMs, logger);
    this.topics.onChange = () => void this.registrar.registerSoon();
    const isClosing = () => this.closing;
    this.context = {
      options, address: this.address, startedAt: this.startedAt, store: this.store, topics: this.topics, offsets: this.offsets,
      consumers: this.consumers, producers: this.producers, longPolling: this.longPolling, registrar: this.registrar, logger,
      get closing() {
        return isClosing();
      },
      connectionCount: () => this.server.connections.size,
    };
    this.transactions = await openTransactions(this.context);
    this.delay = await openDelay(this.context);
    this.retry = await openRetry(this.context);
    this.pop = await openPop(this.context);
    for (const [code, create] of PROCESSORS) this.handlers.set(code, create(this.context));
    this.unsubscribeStore = this.store.onMessagesAvailable((topic, queueId, maxOffset) => this.longPolling.messagesAvailable(topic, queueId, maxOffset));
    this.every(options.offsetPersistIntervalMs, () => {
      this.offsets.persist().catch((error: unknown) => logger.error({ err: error }, 'persisting consumer offsets failed'));
    });
    this.every(Math.min(10_000, Math.max(10, Math.floor(options.clientExpiryMs / 4))), () => {
      const now = Date.now();
      this.consumers.expire(now);
      this.producers.expire(now);
      this.retry?.forgetIdleGroups();
    });
    this.ready = true;
    void this.registrar.start();
    logger.info({ address: this.address, dataDir: options.dataDir, topics: this.topics.size }, 'broker started');
  }

  private every(ms: number, task: () => void): void {
    const timer = setInterval(task, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private dispatch(code: number, frame: Frame, connection: RpcConnection): RpcReply | undefined | Promise<RpcReply | undefined> {
    if (this.closing) throw rpcFailure(ResponseCode.SERVICE_NOT_AVAILABLE, `broker ${this.options.brokerName} is shutting down`);
    const handler = this.handlers.get(code);
    if (!this.ready || !handler) throw rpcFailure(ResponseCode.SERVICE_NOT_AVAILABLE, `broker ${this.options.brokerName} is starting`);
    return handler(frame, connection);
  }

  private onDisconnect(connection: RpcConnection): void {
    this.longPolling.connectionClosed(connection);
    this.consumers.connectionClosed(connection);
    this.producers.connectionClosed(connection);
  }

  private registration(): RegisterBrokerRequestHeader {
    const { clusterName, brokerName, brokerId, autoCreateTopic } = this.options;
    return {
      clusterName, brokerName, brokerId, brokerAddr: this.address, haAddr: '', dataVersion: this.topics.dataVersion, autoCreateTopic, topics: this.topics.list(),
    };
  }

  /** Registers with every NameServer now (also done on start, every registerIntervalMs and after topic changes). */
  registerNow(): Promise<RegistrationOutcome[]> {
    return this.registrar.registerSoon();
  }

  /**
   * Waits (until `deadline`) for in-flight requests to finish and for their responses to leave the
   * sockets: RpcServer.close destroys sockets at once, which would drop responses still corked or queued.
   */
  private async drainConnections(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    try {
      await Promise.race([this.server.idle(), expired]);
      await new Promise((resolve) => setImmediate(resolve)); // corked writes are flushed on the next tick
      const flushed = [...this.server.connections]
        .filter((connection) => !connection.closed && connection.queuedBytes > 0)
        .map((connection) => new Promise<void>((resolve) => {
          connection.socket.once('drain', resolve);
          connection.socket.once('close', resolve);
        }));
      await Promise.race([Promise.all(flushed), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Pulls currently held by long polling. */
  get heldPulls(): number {
    return this.longPolling.size;
  }

  /**
   * Graceful shutdown: stops accepting, answers held pulls, finishes in-flight requests (up to
   * closeGraceMs), unregisters from every NameServer, persists offsets and topics, and closes the store.
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.logger.info({ address: this.address }, 'broker shutting down');
    this.server.stopAccepting();
    for (const timer of this.timers) clearInterval(timer);
    const { clusterName, brokerName, brokerId } = this.options;
    const unregister: UnregisterBrokerRequestHeader = { clusterName, brokerName, brokerId, brokerAddr: this.address };
    const drain = async () => {
      this.longPolling.wakeAll();
      this.pop?.wakeAll();
      await this.drainConnections(Date.now() + this.options.closeGraceMs);
      await this.server.close(0);
    };
    await Promise.all([drain(), this.registrar.stop(unregister)]);
    this.consumers.close();
    this.unsubscribeStore?.();
    await this.pop?.close();
    await this.delay?.close();
    await this.transactions?.close();
    await this.offsets.persist();
    await this.topics.save();
    await this.store.close();
    this.logger.info({ address: this.address }, 'broker closed');
  }
}
