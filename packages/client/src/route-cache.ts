import type { BrokerData, Frame, FrameHeader, QueueData, RpcClient, TopicRouteData } from '@litemq/protocol';
import { RemoteError, RequestCode, TopicPerm, expectSuccess } from '@litemq/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { MessageQueue } from './message-queue.js';
import { withSignal } from './util.js';

export const DEFAULT_ROUTE_REFRESH_MS = 30_000;

export interface RouteCacheOptions {
  routeRefreshMs?: number;
  requestTimeoutMs?: number;
  logger: ClientLogger;
}

/** A route plus what the client derives from it once per route version. */
export interface TopicRoute {
  readonly data: TopicRouteData;
  /** brokerName → master address (addrs['0']); brokers without a live master are absent. */
  readonly masters: ReadonlyMap<string, string>;
  /** Writable queues of brokers that have a master, sorted by (brokerName, queueId). */
  readonly writeQueues: readonly MessageQueue[];
  /** Readable queues of brokers that have a master, sorted by (brokerName, queueId). */
  readonly readQueues: readonly MessageQueue[];
  /** Increments every time the route content changes. */
  readonly version: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape of a GET_ROUTE response header (the route travels in the header). */
export function parseRouteHeader(topic: string, header: Frame['header']): TopicRouteData {
  const brokers = header.brokers;
  const queues = header.queues;
  if (!Array.isArray(brokers) || !Array.isArray(queues)) {
    throw new ClientError(ClientErrorCode.BAD_RESPONSE, `GET_ROUTE for ${topic} answered without brokers/queues`);
  }
  const brokerData: BrokerData[] = [];
  for (const b of brokers as unknown[]) {
    if (!isRecord(b) || typeof b.brokerName !== 'string' || !isRecord(b.addrs)) {
      throw new ClientError(ClientErrorCode.BAD_RESPONSE, `GET_ROUTE for ${topic}: malformed broker entry`);
    }
    const addrs: Record<string, string> = {};
    for (const [id, addr] of Object.entries(b.addrs)) if (typeof addr === 'string') addrs[id] = addr;
    brokerData.push({ clusterName: typeof b.clusterName === 'string' ? b.clusterName : '', brokerName: b.brokerName, addrs });
  }
  const queueData: QueueData[] = [];
  for (const q of queues as unknown[]) {
    if (!isRecord(q) || typeof q.brokerName !== 'string' || typeof q.readQueueNums !== 'number' || typeof q.writeQueueNums !== 'number' || typeof q.perm !== 'number') {
      throw new ClientError(ClientErrorCode.BAD_RESPONSE, `GET_ROUTE for ${topic}: malformed queue entry`);
    }
    queueData.push({ brokerName: q.brokerName, readQueueNums: q.readQueueNums, writeQueueNums: q.writeQueueNums, perm: q.perm });
  }
  return { topic, brokers: brokerData, queues: queueData, autoCreated: header.autoCreated === true };
}

/** Derives masters and sorted read/write queue lists from route data. */
export function buildTopicRoute(data: TopicRouteData, version: number): TopicRoute {
  const masters = new Map<string, string>();
  for (const broker of data.brokers) {
    const master = broker.addrs['0'];
    if (master) masters.set(broker.brokerName, master);
  }
  const writeQueues: MessageQueue[] = [];
  const readQueues: MessageQueue[] = [];
  const sorted = [...data.queues].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
  for (const q of sorted) {
    if (!masters.has(q.brokerName)) continue;
    if ((q.perm & TopicPerm.WRITE) !== 0) for (let i = 0; i < q.writeQueueNums; i++) writeQueues.push({ topic: data.topic, brokerName: q.brokerName, queueId: i });
    if ((q.perm & TopicPerm.READ) !== 0) for (let i = 0; i < q.readQueueNums; i++) readQueues.push({ topic: data.topic, brokerName: q.brokerName, queueId: i });
  }
  return { data, masters, writeQueues, readQueues, version };
}

function sameRoute(a: TopicRouteData, b: TopicRouteData): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Topic routes fetched from the NameServers (the next one is tried when one fails), cached per topic,
 * refreshed every `routeRefreshMs` and on demand after a failure. Concurrent fetches of one topic share a request.
 */
export class RouteCache {
  private readonly routes = new Map<string, TopicRoute>();
  private readonly fetching = new Map<string, Promise<TopicRoute>>();
  private nextNameServer = 0;
  private timer: NodeJS.Timeout | undefined;
  private versions = 0;
  private readonly refreshMs: number;

  constructor(
    private readonly rpc: RpcClient,
    private readonly nameServers: readonly string[],
    private readonly options: RouteCacheOptions,
  ) {
    this.refreshMs = options.routeRefreshMs ?? DEFAULT_ROUTE_REFRESH_MS;
  }

  /** Starts the periodic refresh of every cached topic. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.refreshAll(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The cached route, if any (synchronous fast path for senders). */
  cached(topic: string): TopicRoute | undefined {
    return this.routes.get(topic);
  }

  /** The cached route, or a freshly fetched one. */
  get(topic: string, signal?: AbortSignal): Promise<TopicRoute> {
    const cached = this.routes.get(topic);
    return cached ? Promise.resolve(cached) : this.refresh(topic, signal);
  }

  /**
   * Fetches the route now, sharing a fetch already in progress (so `signal` only stops this caller's wait).
   * Keeps the old route if the fetch fails; forgets it if the NameServers say the topic does not exist.
   */
  refresh(topic: string, signal?: AbortSignal): Promise<TopicRoute> {
    let pending = this.fetching.get(topic);
    if (!pending) {
      pending = this.fetch(topic).finally(() => this.fetching.delete(topic));
      this.fetching.set(topic, pending);
    }
    return withSignal(pending, signal);
  }

  /** Forgets a topic (e.g. it was deleted). */
  evict(topic: string): void {
    this.routes.delete(topic);
  }

  topics(): string[] {
    return [...this.routes.keys()];
  }

  private refreshAll(): void {
    for (const topic of this.routes.keys()) {
      this.refresh(topic).catch((error: unknown) => this.options.logger.warn({ topic, err: error }, 'route refresh failed; keeping the cached route'));
    }
  }

  /** Sends `code` to the NameServers in turn until one answers SUCCESS. */
  async requestNameServer(code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame> {
    let lastError: unknown;
    const count = this.nameServers.length;
    const first = this.nextNameServer++ % count;
    for (let i = 0; i < count; i++) {
      const address = this.nameServers[(first + i) % count]!;
      try {
        return expectSuccess(await this.rpc.request(address, code, header, undefined, { timeoutMs: this.options.requestTimeoutMs ?? 3000, signal }));
      } catch (error) {
        lastError = error;
        if (signal?.aborted) break;
        // A definitive answer (e.g. TOPIC_NOT_EXIST) from one NameServer may be stale; ask the others too.
        this.options.logger.debug({ nameServer: address, code, err: error }, 'NameServer request failed; trying the next one');
      }
    }
    throw lastError;
  }

  private async fetch(topic: string): Promise<TopicRoute> {
    let frame: Frame;
    try {
      frame = await this.requestNameServer(RequestCode.GET_ROUTE, { topic });
    } catch (error) {
      if (error instanceof RemoteError && error.code === 'TOPIC_NOT_EXIST') this.routes.delete(topic);
      throw error;
    }
    const data = parseRouteHeader(topic, frame.header);
    const old = this.routes.get(topic);
    if (old && sameRoute(old.data, data)) return old;
    const route = buildTopicRoute(data, ++this.versions);
    this.routes.set(topic, route);
    return route;
  }
}
