import pino from 'pino';
import type { Logger } from 'pino';
import type {
  BrokerData,
  BrokerLiveInfo,
  ClusterInfo,
  QueueData,
  RegisterBrokerRequestHeader,
  TopicRouteData,
  UnregisterBrokerRequestHeader,
} from '@litemq/protocol';
import { ResponseCode, TopicPerm, isSystemName, rpcFailure } from '@litemq/protocol';
import type { RouteRegistryOptions } from './options.js';
import { resolveRouteRegistryOptions } from './options.js';

/** Broker id of a replica set's master. */
export const MASTER_ID = 0;

/** What `register` did. */
export type RegistrationOutcome = 'new' | 'refreshed';

/** A registered broker: its last registration without the topic list (kept per replica set) plus liveness. */
type LiveBroker = Omit<RegisterBrokerRequestHeader, 'topics'> & { topicCount: number; lastUpdateTimestamp: number };

function liveInfo(broker: LiveBroker): BrokerLiveInfo {
  return {
    clusterName: broker.clusterName,
    brokerName: broker.brokerName,
    brokerId: broker.brokerId,
    brokerAddr: broker.brokerAddr,
    haAddr: broker.haAddr,
    lastUpdateTimestamp: broker.lastUpdateTimestamp,
    dataVersion: broker.dataVersion,
    topicCount: broker.topicCount,
  };
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * In-memory route table of one NameServer (RocketMQ's RouteInfoManager). Brokers are identified by their
 * address; brokers sharing a `brokerName` form a replica set whose master (brokerId 0) defines the set's topics.
 * Not thread-shared state: every NameServer owns its own registry.
 *
 * Inputs are trusted (typed); the NameServer validates wire headers before calling in.
 */
export class RouteRegistry {
  /** brokerAddr → live broker. */
  private readonly live = new Map<string, LiveBroker>();
  /** brokerName → brokerId → live broker. */
  private readonly replicaSets = new Map<string, Map<number, LiveBroker>>();
  /** topic → brokerName → queue data (only from master registrations). */
  private readonly topicQueues = new Map<string, Map<string, QueueData>>();
  /** brokerName → topics its master last registered. */
  private readonly brokerTopics = new Map<string, Set<string>>();
  readonly brokerExpiryMs: number;
  readonly defaultQueueNums: number;
  private readonly logger: Logger;

  constructor(options: RouteRegistryOptions = {}) {
    const resolved = resolveRouteRegistryOptions(options);
    this.brokerExpiryMs = resolved.brokerExpiryMs;
    this.defaultQueueNums = resolved.defaultQueueNums;
    this.logger = resolved.logger ?? pino({ name: 'litemq-nameserver', level: 'warn' });
  }

  /** Number of live brokers (every replica counts). */
  get brokerCount(): number {
    return this.live.size;
  }

  /** Topics some live master has registered, sorted. */
  topics(): string[] {
    return [...this.topicQueues.keys()].sort(byName);
  }

  /**
   * Records a broker's registration (also its heartbeat): refreshes its liveness and, for a master, replaces
   * its replica set's topic set. A broker at the same address under another name or id, or another address
   * holding the same name and id, is replaced.
   */
  register(registration: RegisterBrokerRequestHeader, now: number = Date.now()): RegistrationOutcome {
    const { brokerAddr, brokerName, brokerId } = registration;
    let outcome: RegistrationOutcome = 'refreshed';
    const atAddr = this.live.get(brokerAddr);
    if (atAddr && (atAddr.brokerName !== brokerName || atAddr.brokerId !== brokerId)) {
      this.logger.warn({ brokerAddr, was: `${atAddr.brokerName}/${atAddr.brokerId}`, now: `${brokerName}/${brokerId}` }, 'broker address re-registered under another identity');
      this.remove(atAddr, { keepBrokerName: atAddr.brokerName === brokerName });
      outcome = 'new';
    }
    const sameSlot = this.replicaSets.get(brokerName)?.get(brokerId);
    if (sameSlot && sameSlot.brokerAddr !== brokerAddr) {
      this.logger.warn({ brokerName, brokerId, was: sameSlot.brokerAddr, now: brokerAddr }, 'broker replaced by a broker at another address');
      this.remove(sameSlot, { keepBrokerName: true });
      outcome = 'new';
    }
    let broker = this.live.get(brokerAddr);
    if (!broker) {
      outcome = 'new';
      broker = {
        clusterName: registration.clusterName,
        brokerName,
        brokerId,
        brokerAddr,
        haAddr: registration.haAddr,
        dataVersion: registration.dataVersion,
        autoCreateTopic: registration.autoCreateTopic,
        topicCount: registration.topics.length,
        lastUpdateTimestamp: now,
      };
      this.live.set(brokerAddr, broker);
      let replicas = this.replicaSets.get(brokerName);
      if (!replicas) this.replicaSets.set(brokerName, (replicas = new Map()));
      replicas.set(brokerId, broker);
    } else {
      broker.clusterName = registration.clusterName;
      broker.haAddr = registration.haAddr;
      broker.dataVersion = registration.dataVersion;
      broker.autoCreateTopic = registration.autoCreateTopic;
      broker.topicCount = registration.topics.length;
      broker.lastUpdateTimestamp = Math.max(broker.lastUpdateTimestamp, now);
    }
    if (brokerId === MASTER_ID) this.replaceTopics(brokerName, registration);
    if (outcome === 'new') {
      this.logger.info(
        { clusterName: registration.clusterName, brokerName, brokerId, brokerAddr, topics: registration.topics.length },
        'broker registered',
      );
    }
    return outcome;
  }

  private replaceTopics(brokerName: string, registration: RegisterBrokerRequestHeader): void {
    const previous = this.brokerTopics.get(brokerName) ?? new Set<string>();
    const next = new Set<string>();
    for (const config of registration.topics) {
      next.add(config.topic);
      let queues = this.topicQueues.get(config.topic);
      if (!queues) this.topicQueues.set(config.topic, (queues = new Map()));
      queues.set(brokerName, { brokerName, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm });
    }
    for (const topic of previous) if (!next.has(topic)) this.removeQueueData(topic, brokerName);
    this.brokerTopics.set(brokerName, next);
  }

  private removeQueueData(topic: string, brokerName: string): void {
    const queues = this.topicQueues.get(topic);
    if (!queues) return;
    queues.delete(brokerName);
    if (queues.size === 0) this.topicQueues.delete(topic);
  }

  /**
   * Drops a broker. When it was the last live broker of its replica set, the set's queue data goes too
   * (unless `keepBrokerName`: a replacement for the same set is being registered).
   */
  private remove(broker: LiveBroker, options: { keepBrokerName?: boolean } = {}): void {
    this.live.delete(broker.brokerAddr);
    const replicas = this.replicaSets.get(broker.brokerName);
    if (replicas?.get(broker.brokerId) === broker) replicas.delete(broker.brokerId);
    if (replicas && replicas.size === 0 && !options.keepBrokerName) {
      this.replicaSets.delete(broker.brokerName);
      for (const topic of this.brokerTopics.get(broker.brokerName) ?? []) this.removeQueueData(topic, broker.brokerName);
      this.brokerTopics.delete(broker.brokerName);
    }
  }

  /** Removes a broker at once (a broker shutting down). Returns false when no such broker was registered. */
  unregister(request: UnregisterBrokerRequestHeader): boolean {
    const broker = this.live.get(request.brokerAddr);
    if (!broker || broker.brokerName !== request.brokerName || broker.brokerId !== request.brokerId) return false;
    this.remove(broker);
    this.logger.info({ clusterName: broker.clusterName, brokerName: broker.brokerName, brokerId: broker.brokerId, brokerAddr: broker.brokerAddr }, 'broker unregistered');
    return true;
  }

  /** Drops every broker silent for longer than `brokerExpiryMs` at `now`, and returns what it dropped. */
  expire(now: number = Date.now()): BrokerLiveInfo[] {
    const dropped: BrokerLiveInfo[] = [];
    for (const broker of [...this.live.values()]) {
      const silentMs = now - broker.lastUpdateTimestamp;
      if (silentMs <= this.brokerExpiryMs) continue;
      this.remove(broker);
      dropped.push(liveInfo(broker));
      this.logger.warn(
        { clusterName: broker.clusterName, brokerName: broker.brokerName, brokerId: broker.brokerId, brokerAddr: broker.brokerAddr, silentMs, brokerExpiryMs: this.brokerExpiryMs },
        'broker expired: no registration within brokerExpiryMs',
      );
    }
    return dropped;
  }

  private brokerData(brokerName: string, replicas: Map<number, LiveBroker>): BrokerData {
    const addrs: Record<string, string> = {};
    for (const id of [...replicas.keys()].sort((a, b) => a - b)) addrs[String(id)] = replicas.get(id)!.brokerAddr;
    const primary = replicas.get(MASTER_ID) ?? replicas.values().next().value!;
    return { clusterName: primary.clusterName, brokerName, addrs };
  }

  /**
   * The route of `topic` over live brokers. A topic no broker has gets a route over the live masters with
   * `autoCreateTopic` (default queue counts, `autoCreated: true`; never for system topics); failing that,
   * throws a TOPIC_NOT_EXIST RemoteError.
   */
  route(topic: string): TopicRouteData {
    const queues = this.topicQueues.get(topic);
    if (queues && queues.size > 0) {
      const brokers: BrokerData[] = [];
      const queueData: QueueData[] = [];
      for (const brokerName of [...queues.keys()].sort(byName)) {
        const replicas = this.replicaSets.get(brokerName);
        if (!replicas || replicas.size === 0) continue;
        brokers.push(this.brokerData(brokerName, replicas));
        queueData.push({ ...queues.get(brokerName)! });
      }
      if (brokers.length > 0) return { topic, brokers, queues: queueData };
    }
    if (!isSystemName(topic)) {
      const brokers: BrokerData[] = [];
      const queueData: QueueData[] = [];
      for (const brokerName of [...this.replicaSets.keys()].sort(byName)) {
        const replicas = this.replicaSets.get(brokerName)!;
        if (!replicas.get(MASTER_ID)?.autoCreateTopic) continue;
        brokers.push(this.brokerData(brokerName, replicas));
        queueData.push({ brokerName, readQueueNums: this.defaultQueueNums, writeQueueNums: this.defaultQueueNums, perm: TopicPerm.READ_WRITE });
      }
      if (brokers.length > 0) return { topic, brokers, queues: queueData, autoCreated: true };
    }
    throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `no route for topic ${topic}`);
  }

  /** Live brokers and the broker names of each cluster, sorted. */
  clusterInfo(): ClusterInfo {
    const clusterSets = new Map<string, Set<string>>();
    const brokers = [...this.live.values()].sort(
      (a, b) => byName(a.clusterName, b.clusterName) || byName(a.brokerName, b.brokerName) || a.brokerId - b.brokerId,
    );
    for (const broker of brokers) {
      let names = clusterSets.get(broker.clusterName);
      if (!names) clusterSets.set(broker.clusterName, (names = new Set()));
      names.add(broker.brokerName);
    }
    const clusters: Record<string, string[]> = {};
    for (const [cluster, names] of clusterSets) clusters[cluster] = [...names].sort(byName);
    return { clusters, brokers: brokers.map(liveInfo) };
  }
}
