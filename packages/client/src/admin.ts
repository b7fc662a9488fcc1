import type { BrokerLiveInfo, ClusterInfo, Frame, FrameHeader, QueueOffsetStatus, TopicConfig, TopicRouteData } from '@litemq/protocol';
import { RemoteError, RequestCode, RpcClient, TopicPerm, expectSuccess, validateGroupName, validateTopicName } from '@litemq/protocol';
import type { ResetOffsetsOptions, ResetOffsetsResult } from './offset-reset.js';
import { resetOffsets } from './offset-reset.js';
import { ClientError, ClientErrorCode, clientClosed, invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import { silentClientLogger } from './logger.js';
import { RouteCache } from './route-cache.js';
import type { ForceEndResult, ListPendingTransactionsOptions, PendingTransactions } from './transaction-admin.js';
import { forceEndTransaction, listPendingTransactions } from './transaction-admin.js';
import { checkInteger, checkNameServers } from './util.js';

export interface AdminOptions {
  nameServers: string[];
  /** Timeout of each request, in ms. Default 5000. */
  requestTimeoutMs?: number;
  logger?: ClientLogger;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface CreateTopicOptions extends CallOptions {
  /** Read and write queues per broker. Default 8. */
  queueNums?: number;
  /** Brokers (by brokerName) to create the topic on. Default: every broker master of the cluster(s). */
  brokerNames?: string[];
  /** TopicPerm bits. Default READ_WRITE. */
  perm?: number;
}

export interface TopicSummary {
  topic: string;
  /** One entry per broker that has the topic. */
  brokers: Array<{ brokerName: string; readQueueNums: number; writeQueueNums: number; perm: number }>;
}

export interface GroupQueueOffset extends QueueOffsetStatus {
  brokerName: string;
}

export interface ConsumerOffsets {
  group: string;
  queues: GroupQueueOffset[];
  /** Sum of the per-queue lags (max offset − committed offset). */
  totalLag: number;
}

export interface QueueOffsets {
  brokerName: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
}

function num(header: FrameHeader, name: string): number {
  const value = header[name];
  return typeof value === 'number' ? value : 0;
}

/** Administration over the NameServers and broker masters: topics, routes, cluster and consumer offsets. */
export class Admin implements AsyncDisposable {
  private readonly rpc: RpcClient;
  private readonly routes: RouteCache;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(options: AdminOptions) {
    if (typeof options !== 'object' || options === null) throw invalidOptions('Admin options are required');
    const nameServers = checkNameServers(options.nameServers);
    this.timeoutMs = checkInteger('requestTimeoutMs', options.requestTimeoutMs, 5000, 1);
    const logger = options.logger ?? silentClientLogger;
    this.rpc = new RpcClient({ logger });
    this.routes = new RouteCache(this.rpc, nameServers, { requestTimeoutMs: this.timeoutMs, logger });
  }

  /** Brokers and clusters registered with the NameServers. */
  async clusterInfo(options?: CallOptions): Promise<ClusterInfo> {
    this.check();
    const frame = await this.routes.requestNameServer(RequestCode.GET_CLUSTER_INFO, {}, options?.signal);
    const clusters = frame.header.clusters;
    const brokers = frame.header.brokers;
    if (typeof clusters !== 'object' || clusters === null || !Array.isArray(brokers)) {
      throw new ClientError(ClientErrorCode.BAD_RESPONSE, 'GET_CLUSTER_INFO answered without clusters/brokers');
    }
    return { clusters: clusters as Record<string, string[]>, brokers: brokers as unknown as BrokerLiveInfo[] };
  }

  /** The route of a topic, fresh from a NameServer. */
  async getRoute(topic: string, options?: CallOptions): Promise<TopicRouteData> {
    this.check();
    validateTopicName(topic, { allowSystem: true });
    return (await this.routes.refresh(topic, options?.signal)).data;
  }

  /** Creates (or updates) a topic on the given broker masters (default: all). Returns the brokerNames used. */
  async createTopic(topic: string, options: CreateTopicOptions = {}): Promise<string[]> {
    this.check();
    validateTopicName(topic);
    const queueNums = checkInteger('queueNums', options.queueNums, 8, 1, 1024);
    const perm = checkInteger('perm', options.perm, TopicPerm.READ_WRITE, 0, 7);
    let masters = await this.masters(options.signal);
    if (options.brokerNames) {
      const unknown = options.brokerNames.filter((name) => !masters.some((m) => m.brokerName === name));
      if (unknown.length > 0) throw new ClientError(ClientErrorCode.NO_ROUTE, `no live master for broker(s) ${unknown.join(', ')}`);
      masters = masters.filter((m) => options.brokerNames!.includes(m.brokerName));
    }
    if (masters.length === 0) throw new ClientError(ClientErrorCode.NO_ROUTE, 'no broker master is registered with the NameServers', { retriable: true });
    const header: TopicConfig = { topic, readQueueNums: queueNums, writeQueueNums: queueNums, perm };
    await Promise.all(masters.map((m) => this.brokerRequest(m.brokerAddr, RequestCode.CREATE_TOPIC, header, options.signal)));
    return masters.map((m) => m.brokerName);
  }

  /** Deletes a topic from every broker master (brokers that do not have it are ignored). */
  async deleteTopic(topic: string, options?: CallOptions): Promise<void> {
    this.check();
    validateTopicName(topic);
    const masters = await this.masters(options?.signal);
    await Promise.all(
      masters.map((m) =>
        this.brokerRequest(m.brokerAddr, RequestCode.DELETE_TOPIC, { topic }, options?.signal).catch((error: unknown) => {
          if (!(error instanceof RemoteError && error.code === 'TOPIC_NOT_EXIST')) throw error;
        }),
      ),
    );
    this.routes.evict(topic);
  }

  /** Every topic of every broker master, merged by name and sorted. */
  async listTopics(options?: CallOptions): Promise<TopicSummary[]> {
    this.check();
    const masters = await this.masters(options?.signal);
    const byTopic = new Map<string, TopicSummary>();
    await Promise.all(
      masters.map(async (m) => {
        const frame = await this.brokerRequest(m.brokerAddr, RequestCode.LIST_TOPICS, {}, options?.signal);
        const topics = frame.header.topics;
        if (!Array.isArray(topics)) throw new ClientError(ClientErrorCode.BAD_RESPONSE, `LIST_TOPICS from ${m.brokerName} answered without topics`);
        for (const config of topics as unknown as TopicConfig[]) {
          let summary = byTopic.get(config.topic);
          if (!summary) byTopic.set(config.topic, (summary = { topic: config.topic, brokers: [] }));
          summary.brokers.push({ brokerName: m.brokerName, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm });
        }
      }),
    );
    const list = [...byTopic.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    for (const summary of list) summary.brokers.sort((a, b) => (a.brokerName < b.brokerName ? -1 : 1));
    return list;
  }

  /** Committed offsets and lag of a consumer group on every broker master (optionally for one topic). */
  async consumerOffsets(group: string, topic?: string, options?: CallOptions): Promise<ConsumerOffsets> {
    this.check();
    validateGroupName(group);
    if (topic !== undefined) validateTopicName(topic, { allowSystem: true });
    const masters = await this.masters(options?.signal);
    const queues: GroupQueueOffset[] = [];
    await Promise.all(
      masters.map(async (m) => {
        const frame = await this.brokerRequest(m.brokerAddr, RequestCode.GET_CONSUMER_OFFSETS, topic === undefined ? { group } : { group, topic }, options?.signal);
        const list = frame.header.queues;
        if (!Array.isArray(list)) throw new ClientError(ClientErrorCode.BAD_RESPONSE, `GET_CONSUMER_OFFSETS from ${m.brokerName} answered without queues`);
        for (const q of list as unknown as QueueOffsetStatus[]) queues.push({ ...q, brokerName: m.brokerName });
      }),
    );
    queues.sort((a, b) => (a.topic !== b.topic ? (a.topic < b.topic ? -1 : 1) : a.brokerName !== b.brokerName ? (a.brokerName < b.brokerName ? -1 : 1) : a.queueId - b.queueId));
    return { group, queues, totalLag: queues.reduce((sum, q) => sum + Math.max(0, q.lag), 0) };
  }

  /**
   * Resets a group's committed offsets to the earliest, the latest, or the first message stored at or after a
   * time, on every broker master. Connected consumers of the group are notified and continue from there at
   * once; others read the new offsets when they start.
   */
  async resetOffsets(group: string, options: ResetOffsetsOptions): Promise<ResetOffsetsResult> {
    this.check();
    return resetOffsets(this.brokers(), group, options);
  }

  /** Min and max offsets of every readable queue of a topic. */
  async queryOffsets(topic: string, options?: CallOptions): Promise<QueueOffsets[]> {
    this.check();
    validateTopicName(topic, { allowSystem: true });
    const route = await this.routes.refresh(topic, options?.signal);
    return Promise.all(
      route.readQueues.map(async (queue) => {
        const frame = await this.brokerRequest(route.masters.get(queue.brokerName)!, RequestCode.QUERY_OFFSETS, { topic, queueId: queue.queueId }, options?.signal);
        return { brokerName: queue.brokerName, queueId: queue.queueId, minOffset: num(frame.header, 'minOffset'), maxOffset: num(frame.header, 'maxOffset') };
      }),
    );
  }

  /** Pending (unresolved) transactions of every broker master, oldest first. */
  async listPendingTransactions(options?: ListPendingTransactionsOptions): Promise<PendingTransactions> {
    this.check();
    return listPendingTransactions(this.brokers(), options);
  }

  /** Operator commit of a pending transaction, by the message id `listPendingTransactions` shows. */
  async commitTransaction(msgId: string, options?: { brokerName?: string; signal?: AbortSignal }): Promise<ForceEndResult> {
    this.check();
    return forceEndTransaction(this.brokers(), msgId, 'COMMIT', options);
  }

  /** Operator rollback of a pending transaction, by message id. */
  async rollbackTransaction(msgId: string, options?: { brokerName?: string; signal?: AbortSignal }): Promise<ForceEndResult> {
    this.check();
    return forceEndTransaction(this.brokers(), msgId, 'ROLLBACK', options);
  }

  private brokers(): { masters: Admin['masters']; brokerRequest: Admin['brokerRequest'] } {
    return { masters: (signal) => this.masters(signal), brokerRequest: (address, code, header, signal) => this.brokerRequest(address, code, header, signal) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.rpc.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private check(): void {
    if (this.closed) throw clientClosed('admin');
  }

  private async masters(signal?: AbortSignal): Promise<BrokerLiveInfo[]> {
    const info = await this.clusterInfo({ signal });
    return info.brokers.filter((b) => b.brokerId === 0).sort((a, b) => (a.brokerName < b.brokerName ? -1 : 1));
  }

  private async brokerRequest(address: string, code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame> {
    return expectSuccess(await this.rpc.request(address, code, header, undefined, { timeoutMs: this.timeoutMs, signal }));
  }
}
