import { randomUUID } from 'node:crypto';
import type {
  CheckTransactionStateRequestHeader, EndTransactionBatchRequestHeader, EndTransactionRequestHeader, EndTransactionResponseHeader, Frame, HeartbeatRequestHeader,
  LocalTransactionState, Message, ReceivedMessage, RpcClient, RpcConnection, SendHalfBatchRequestHeader, SendHalfRequestHeader, TransactionResolution, TxnBatchItemError,
} from '@litemq/protocol';
import {
  FrameFlag, MAX_TXN_BATCH, RecordField, RecordFlag, RemoteError, RequestCode, ResponseCode, SystemProperty, TXN_CHECK_IMMUNITY_PROPERTY, decodeRecord, encodeRecord,
  expectSuccess, isRetriableResponse, readMessageId, remoteErrorOf,
} from '@litemq/protocol';
import { ClientError, ClientErrorCode, clientClosed, invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { QueueSelector } from './queue-selector.js';
import type { RouteCache } from './route-cache.js';
import type { SendResult } from './send-result.js';
import { TxnBatcher } from './txn-batcher.js';

/** Answers a broker's check-back: what became of the local transaction of this (half) message? */
export type TransactionChecker = (message: ReceivedMessage) => LocalTransactionState | Promise<LocalTransactionState>;
/** Runs the local transaction after the half message is stored. Throwing counts as UNKNOWN. */
export type LocalTransactionExecutor = (message: Message, sent: TransactionSendResult) => LocalTransactionState | Promise<LocalTransactionState>;

export interface TransactionSendOptions {
  /** First check-back no earlier than this many ms after the half is stored (default: the broker's immunity). */
  checkImmunityMs?: number;
}

export interface TransactionSendResult extends SendResult {
  transactionId: string;
  /** Commit-log offset of the half message on its broker. */
  halfOffset: number;
}

export interface SendInTransactionResult extends TransactionSendResult {
  /** What the local transaction answered (UNKNOWN: left to check-backs). */
  state: LocalTransactionState;
}

/** Frames in flight per broker for each kind of batched transaction request. */
const TXN_FRAMES_IN_FLIGHT = 4;
/** Most halves or ends per batched frame (the broker accepts up to MAX_TXN_BATCH). */
const TXN_BATCH_ITEMS = Math.min(256, MAX_TXN_BATCH);
/** Cap on the record bytes of one batched SEND_HALF frame (a larger single record goes alone). */
const TXN_BATCH_BYTES = 512 * 1024;

interface HalfItem {
  group: string;
  transactionId: string;
  record: Buffer;
}

interface HalfStored {
  halfOffset: number;
  msgId: string;
}

interface EndItem {
  group: string;
  transactionId: string;
  half: HalfRef;
  resolution: TransactionResolution;
}

/** The per-item failures of a batched response, by index. */
function itemErrors(frame: Frame): Map<number, Error> {
  const out = new Map<number, Error>();
  const errors = frame.header.errors;
  if (!Array.isArray(errors)) return out;
  for (const entry of errors as TxnBatchItemError[]) {
    out.set(entry.index, new RemoteError(entry.errorCode, entry.code, entry.error, isRetriableResponse(entry.code)));
  }
  return out;
}

interface HalfRef {
  address: string;
  halfOffset: number;
  msgId: string;
}

export interface TransactionDeps {
  rpc: RpcClient;
  routes: RouteCache;
  selector: QueueSelector;
  group: string | undefined;
  clientId: string;
  logger: ClientLogger;
  checker: TransactionChecker | undefined;
  sendTimeoutMs: number;
  maxMessageBytes: number;
  heartbeatIntervalMs: number;
  /** Throws if the producer cannot send now. */
  checkState(): void;
}

/**
 * A transaction of a producer: `send` stores half messages (invisible to consumers), `commit` makes them
 * visible exactly once, `rollback` discards them. Unresolved halves are checked back with the producer group.
 */
export class Transaction {
  readonly id = randomUUID();
  private readonly halves: HalfRef[] = [];
  private state: 'open' | 'ending' | 'ended' = 'open';

  constructor(private readonly owner: ProducerTransactions) {}

  /** Stores `message` as a half message of this transaction. */
  async send(message: Message, options: TransactionSendOptions = {}): Promise<TransactionSendResult> {
    if (this.state !== 'open') throw invalidOptions(`transaction ${this.id} is already ${this.state === 'ended' ? 'ended' : 'ending'}`);
    const { result, ref } = await this.owner.sendHalf(this.id, message, options);
    this.halves.push(ref);
    return result;
  }

  /** Commits every half message of the transaction. Rejects with TRANSACTION_CONFLICT if one was rolled back meanwhile. */
  commit(): Promise<void> {
    return this.end('COMMIT');
  }

  /** Rolls back every half message of the transaction. */
  rollback(): Promise<void> {
    return this.end('ROLLBACK');
  }

  private async end(resolution: TransactionResolution): Promise<void> {
    if (this.state !== 'open') throw invalidOptions(`transaction ${this.id} is already ${this.state === 'ended' ? 'ended' : 'ending'}`);
    this.state = 'ending';
    try {
      const outcomes = await Promise.all(this.halves.map((half) => this.owner.endHalf(this.id, half, resolution, false)));
      const conflict = outcomes.find((o) => o.outcome !== resolution && o.outcome !== 'UNKNOWN');
      if (conflict) {
        throw new ClientError(ClientErrorCode.TRANSACTION_CONFLICT, `transaction ${this.id} was already resolved as ${conflict.outcome}`);
      }
    } finally {
      this.state = 'ended';
    }
  }
}

/** The transactional side of a Producer: halves, END_TRANSACTION, heartbeats of the group, and check-backs. */
export class ProducerTransactions {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly heartbeated = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly halfBatcher: TxnBatcher<HalfItem, HalfStored>;
  private readonly endBatcher: TxnBatcher<EndItem, EndTransactionResponseHeader>;

  constructor(private readonly deps: TransactionDeps) {
    this.halfBatcher = new TxnBatcher({
      maxItems: TXN_BATCH_ITEMS, maxBytes: TXN_BATCH_BYTES, sizeOf: (item) => item.record.length, maxInFlightFrames: TXN_FRAMES_IN_FLIGHT,
      sendFrame: (address, items) => this.sendHalfFrame(address, items),
    });
    this.endBatcher = new TxnBatcher({
      maxItems: TXN_BATCH_ITEMS, maxBytes: Number.MAX_SAFE_INTEGER, sizeOf: () => 0, maxInFlightFrames: TXN_FRAMES_IN_FLIGHT,
      sendFrame: (address, items) => this.sendEndFrame(address, items),
    });
  }

  private get group(): string {
    if (this.deps.group === undefined) throw invalidOptions('transactions need a producer group (option `group`)');
    return this.deps.group;
  }

  begin(): Transaction {
    this.deps.checkState();
    void this.group;
    return new Transaction(this);
  }

  async sendHalf(transactionId: string, message: Message, options: TransactionSendOptions): Promise<{ result: TransactionSendResult; ref: HalfRef }> {
    this.deps.checkState();
    const group = this.group;
    const systemProperties = options.checkImmunityMs === undefined ? undefined : { [TXN_CHECK_IMMUNITY_PROPERTY]: String(Math.max(0, Math.trunc(options.checkImmunityMs))) };
    const record = encodeRecord(message, { maxBodyBytes: this.deps.maxMessageBytes, flags: RecordFlag.TX_PREPARED, systemProperties });
    const route = await this.deps.routes.get(message.topic);
    const queue = this.deps.selector.select(route, message.shardingKey, undefined);
    if (!queue) throw new ClientError(ClientErrorCode.NO_ROUTE, `topic ${message.topic} has no writable queue on a broker with a master`, { retriable: true });
    record.writeUInt32BE(queue.queueId, 32);
    const address = route.masters.get(queue.brokerName)!;
    await this.ensureHeartbeat(address);
    const { halfOffset, msgId } = await this.halfBatcher.add(address, { group, transactionId, record });
    const result: TransactionSendResult = {
      msgId, topic: message.topic, queueId: queue.queueId, queueOffset: -1, brokerName: queue.brokerName, status: 'SEND_OK', transactionId, halfOffset,
    };
    return { result, ref: { address, halfOffset, msgId } };
  }

  async endHalf(transactionId: string, half: HalfRef, resolution: TransactionResolution, fromCheck: boolean): Promise<EndTransactionResponseHeader> {
    if (!fromCheck) return this.endBatcher.add(half.address, { group: this.group, transactionId, half, resolution });
    const header: EndTransactionRequestHeader = { producerGroup: this.group, transactionId, halfOffset: half.halfOffset, msgId: half.msgId, resolution, fromCheck };
    const frame = expectSuccess(await this.deps.rpc.request(half.address, RequestCode.END_TRANSACTION, header, undefined, { timeoutMs: this.deps.sendTimeoutMs }));
    return { outcome: (frame.header.outcome as EndTransactionResponseHeader['outcome']) ?? 'UNKNOWN', applied: frame.header.applied === true };
  }

  /** One SEND_HALF frame: the single-record form for one half, the batched form (records back to back) for more. */
  private async sendHalfFrame(address: string, items: readonly HalfItem[]): Promise<Array<HalfStored | Error>> {
    const options = { timeoutMs: this.deps.sendTimeoutMs };
    if (items.length === 1) {
      const item = items[0]!;
      const header: SendHalfRequestHeader = { producerGroup: item.group, transactionId: item.transactionId };
      const frame = await this.deps.rpc.request(address, RequestCode.SEND_HALF, header, item.record, options);
      if (frame.code !== ResponseCode.SUCCESS) return [remoteErrorOf(frame)];
      const { halfOffset, msgId } = frame.header;
      if (typeof halfOffset !== 'number' || typeof msgId !== 'string') throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'SEND_HALF answered without halfOffset/msgId');
      return [{ halfOffset, msgId }];
    }
    const header: SendHalfBatchRequestHeader = { producerGroup: items[0]!.group, transactionIds: items.map((item) => item.transactionId) };
    const frame = expectSuccess(await this.deps.rpc.request(address, RequestCode.SEND_HALF, header, items.map((item) => item.record), options));
    const halfOffsets = frame.header.halfOffsets;
    if (!Array.isArray(halfOffsets) || halfOffsets.length !== items.length) throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'batched SEND_HALF answered without one halfOffset per record');
    const failed = itemErrors(frame);
    return items.map((item, i) => failed.get(i) ?? { halfOffset: halfOffsets[i] as number, msgId: readMessageId(item.record, RecordField.MSG_ID) });
  }

  /** One END_TRANSACTION frame: the single form for one half, the batched form for more. */
  private async sendEndFrame(address: string, items: readonly EndItem[]): Promise<Array<EndTransactionResponseHeader | Error>> {
    const options = { timeoutMs: this.deps.sendTimeoutMs };
    if (items.length === 1) {
      const { group, transactionId, half, resolution } = items[0]!;
      const header: EndTransactionRequestHeader = { producerGroup: group, transactionId, halfOffset: half.halfOffset, msgId: half.msgId, resolution, fromCheck: false };
      const frame = await this.deps.rpc.request(address, RequestCode.END_TRANSACTION, header, undefined, options);
      if (frame.code !== ResponseCode.SUCCESS) return [remoteErrorOf(frame)];
      return [{ outcome: (frame.header.outcome as EndTransactionResponseHeader['outcome']) ?? 'UNKNOWN', applied: frame.header.applied === true }];
    }
    const header: EndTransactionBatchRequestHeader = {
      producerGroup: items[0]!.group, halfOffsets: items.map((item) => item.half.halfOffset), msgIds: items.map((item) => item.half.msgId), resolutions: items.map((item) => item.resolution),
    };
    const frame = expectSuccess(await this.deps.rpc.request(address, RequestCode.END_TRANSACTION, header, undefined, options));
    const { outcomes, applied } = frame.header;
    if (!Array.isArray(outcomes) || !Array.isArray(applied) || outcomes.length !== items.length) throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'batched END_TRANSACTION answered without one outcome per half');
    const failed = itemErrors(frame);
    return items.map((_, i) => failed.get(i) ?? { outcome: (outcomes[i] as EndTransactionResponseHeader['outcome']) ?? 'UNKNOWN', applied: applied[i] === true });
  }

  /** Sends the half, runs the local transaction, then commits or rolls back (UNKNOWN: left to check-backs). */
  async sendInTransaction(message: Message, executor: LocalTransactionExecutor, options: TransactionSendOptions = {}): Promise<SendInTransactionResult> {
    if (typeof executor !== 'function') throw invalidOptions('sendInTransaction needs a local transaction function');
    const transaction = this.begin();
    const sent = await transaction.send(message, options);
    let state: LocalTransactionState;
    try {
      state = await executor(message, sent);
    } catch (error) {
      this.deps.logger.warn({ transactionId: transaction.id, err: error }, 'local transaction threw: left to check-backs');
      state = 'UNKNOWN';
    }
    if (state === 'COMMIT') await transaction.commit();
    else if (state === 'ROLLBACK') await transaction.rollback();
    else if (state !== 'UNKNOWN') throw invalidOptions(`a local transaction must answer COMMIT, ROLLBACK or UNKNOWN, got ${JSON.stringify(state)}`);
    return { ...sent, state };
  }

  // --- group membership -----------------------------------------------------------------------------

  /** Heartbeats the group to every broker master now and every heartbeatIntervalMs (no-op without a group). */
  async start(): Promise<void> {
    if (this.deps.group === undefined) return;
    await this.heartbeatAll();
    this.heartbeatTimer = setInterval(() => void this.heartbeatAll(), this.deps.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.deps.group === undefined) return;
    await Promise.all(
      [...this.heartbeated.keys()].map((address) =>
        this.deps.rpc
          .request(address, RequestCode.UNREGISTER_CLIENT, { clientId: this.deps.clientId, producerGroup: this.deps.group }, undefined, { timeoutMs: this.deps.sendTimeoutMs })
          .catch(() => undefined),
      ),
    );
  }

  private heartbeatHeader(): HeartbeatRequestHeader {
    return { clientId: this.deps.clientId, producerGroups: [this.group], consumers: [] };
  }

  private heartbeat(address: string): Promise<void> {
    return this.deps.rpc
      .request(address, RequestCode.HEARTBEAT, this.heartbeatHeader(), undefined, { timeoutMs: this.deps.sendTimeoutMs })
      .then(expectSuccess)
      .then(
        () => undefined,
        (error: unknown) => {
          this.heartbeated.delete(address);
          this.deps.logger.warn({ broker: address, err: error }, 'producer heartbeat failed');
        },
      );
  }

  private ensureHeartbeat(address: string): Promise<void> {
    let done = this.heartbeated.get(address);
    if (!done) this.heartbeated.set(address, (done = this.heartbeat(address)));
    return done;
  }

  /** Every broker master of the cluster, so a restarted instance can answer checks for halves it never sent. */
  private async heartbeatAll(): Promise<void> {
    if (this.stopped) return;
    const addresses = new Set(this.heartbeated.keys());
    try {
      const frame = await this.deps.routes.requestNameServer(RequestCode.GET_CLUSTER_INFO, {});
      const brokers = frame.header.brokers;
      if (Array.isArray(brokers)) {
        for (const broker of brokers as Array<{ brokerId?: unknown; brokerAddr?: unknown }>) {
          if (broker.brokerId === 0 && typeof broker.brokerAddr === 'string') addresses.add(broker.brokerAddr);
        }
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'listing brokers for producer heartbeats failed');
    }
    await Promise.all([...addresses].map((address) => {
      const done = this.heartbeat(address);
      this.heartbeated.set(address, done);
      return done;
    }));
  }

  // --- check-backs --------------------------------------------------------------------------------------

  /** Broker → producer requests. Checks are acknowledged at once and answered with END_TRANSACTION on the same connection. */
  onServerRequest(frame: Frame, connection: RpcConnection): void {
    if (frame.code !== RequestCode.CHECK_TRANSACTION_STATE || !this.deps.checker || this.stopped) {
      if ((frame.flags & FrameFlag.ONEWAY) === 0) {
        const what = frame.code === RequestCode.CHECK_TRANSACTION_STATE ? 'this producer has no transactionChecker' : `producer does not handle request code ${frame.code}`;
        connection.respond(frame, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, { error: what, errorCode: 'REQUEST_CODE_NOT_SUPPORTED' });
      }
      return;
    }
    if ((frame.flags & FrameFlag.ONEWAY) === 0) connection.respond(frame, ResponseCode.SUCCESS);
    void this.answerCheck(frame, connection, this.deps.checker);
  }

  private async answerCheck(frame: Frame, connection: RpcConnection, checker: TransactionChecker): Promise<void> {
    const header = frame.header as unknown as CheckTransactionStateRequestHeader;
    try {
      const stored = decodeRecord(frame.body);
      const { [SystemProperty.ORIGIN_TOPIC]: topic, [SystemProperty.ORIGIN_QUEUE_ID]: queueId, ...systemProperties } = stored.systemProperties;
      const message: ReceivedMessage = { ...stored, body: Buffer.from(stored.body), topic: topic ?? stored.topic, queueId: Number(queueId ?? stored.queueId), systemProperties };
      const state = await checker(message);
      if (state !== 'COMMIT' && state !== 'ROLLBACK') return;
      if (this.stopped) throw clientClosed('producer');
      const end: EndTransactionRequestHeader = {
        producerGroup: header.producerGroup, transactionId: header.transactionId, halfOffset: header.halfOffset, msgId: header.msgId, resolution: state, fromCheck: true,
      };
      expectSuccess(await connection.request(RequestCode.END_TRANSACTION, end, undefined, { timeoutMs: this.deps.sendTimeoutMs }));
    } catch (error) {
      this.deps.logger.warn({ transactionId: header.transactionId, err: error }, 'answering a transaction check failed');
    }
  }
}
