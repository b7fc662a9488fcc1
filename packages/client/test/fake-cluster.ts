/**
 * A minimal, honest test double of a NameServer and broker speaking the LiteMQ RPC contract over real TCP
 * (RpcServer on an ephemeral port). The client package may not import @litemq/broker or @litemq/nameserver,
 * so this implements just what the client uses: routes, SEND (offsets per record), PULL with long polling and
 * tag hashes, offsets, heartbeats with membership notifications, and topic admin.
 */
import type { ClusterInfo, Frame, RpcConnection, TopicConfig, TopicRouteData } from '@litemq/protocol';
import {
  RecordField,
  RequestCode,
  ResponseCode,
  RpcServer,
  SEND_RESULT_ENTRY_BYTES,
  TopicPerm,
  forEachRecord,
  patchStoredFields,
  readRecordSections,
  readU64,
  rpcFailure,
  tagHashOfBytes,
  writeU64,
} from '@litemq/protocol';

export async function waitFor(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Stored {
  record: Buffer;
  tagHash: number;
  storeTimestamp: number;
}

interface Waiter {
  topic: string;
  queueId: number;
  wake: () => void;
}

export interface SendFrameLog {
  code: number;
  producerGroup: unknown;
  count: number;
  queueIds: number[];
  topics: string[];
}

export class FakeBroker {
  readonly server = new RpcServer();
  address = '';
  readonly topics = new Map<string, TopicConfig>();
  readonly queues = new Map<string, Stored[]>();
  readonly sendFrames: SendFrameLog[] = [];
  readonly committed = new Map<string, number>();
  readonly commitRequests: Array<{ group: unknown; offsets: unknown }> = [];
  readonly members = new Map<string, Map<string, RpcConnection>>();
  readonly pulls: Array<Record<string, unknown>> = [];
  /** Every HEARTBEAT header received. */
  readonly heartbeats: Array<Record<string, unknown>> = [];
  /** Answer the next N SEND frames with this response code. */
  failSends: { count: number; code: number } = { count: 0, code: ResponseCode.SYSTEM_BUSY };
  /** Answer SEND frames with this status code (stored anyway), e.g. FLUSH_DISK_TIMEOUT. */
  sendStatus: number = ResponseCode.SUCCESS;
  /** Hold SEND responses until released (to observe coalescing while a frame is in flight). */
  holdSends = false;
  private held: Array<() => void> = [];
  private waiters: Waiter[] = [];
  private commitLogOffset = 0;
  private closed = false;

  constructor(readonly brokerName: string) {
    this.server = new RpcServer({
      onDisconnect: (connection) => {
        for (const [group, members] of this.members) {
          for (const [clientId, conn] of members) if (conn === connection) members.delete(clientId);
          this.notify(group);
        }
      },
    });
    const s = this.server;
    s.register(RequestCode.SEND_MESSAGE, (frame) => this.send(frame));
    s.register(RequestCode.SEND_BATCH, (frame) => this.send(frame));
    s.register(RequestCode.PULL_MESSAGE, (frame) => this.pull(frame));
    s.register(RequestCode.QUERY_OFFSETS, (frame) => {
      const { topic, queueId, group } = frame.header as { topic: string; queueId: number; group?: string };
      this.requireTopic(topic);
      const stored = this.queue(topic, queueId);
      const committed = group === undefined ? -1 : (this.committed.get(`${group}@${topic}@${queueId}`) ?? -1);
      return { header: { minOffset: 0, maxOffset: stored.length, committedOffset: committed } };
    });
    s.register(RequestCode.QUERY_OFFSET_BY_TIME, (frame) => {
      const { topic, queueId, timestamp } = frame.header as { topic: string; queueId: number; timestamp: number };
      const stored = this.queue(topic, queueId);
      const index = stored.findIndex((m) => m.storeTimestamp >= timestamp);
      return { header: { offset: index < 0 ? stored.length : index } };
    });
    s.register(RequestCode.COMMIT_OFFSET, (frame) => {
      const { group, offsets } = frame.header as { group: string; offsets: Array<{ topic: string; queueId: number; offset: number }> };
      this.commitRequests.push({ group, offsets });
      for (const o of offsets) this.committed.set(`${group}@${o.topic}@${o.queueId}`, o.offset);
      return {};
    });
    s.register(RequestCode.HEARTBEAT, (frame, connection) => {
      this.heartbeats.push({ ...frame.header });
      const { clientId, consumers } = frame.header as { clientId: string; consumers: Array<{ group: string }> };
      for (const { group } of consumers) {
        let members = this.members.get(group);
        if (!members) this.members.set(group, (members = new Map()));
        const isNew = !members.has(clientId);
        members.set(clientId, connection);
        if (isNew) this.notify(group);
      }
      return {};
    });
    s.register(RequestCode.UNREGISTER_CLIENT, (frame) => {
      const { clientId, consumerGroup } = frame.header as { clientId: string; consumerGroup?: string };
      if (consumerGroup && this.members.get(consumerGroup)?.delete(clientId)) this.notify(consumerGroup);
      return {};
    });
    s.register(RequestCode.GET_CONSUMER_LIST, (frame) => ({ header: { clientIds: [...(this.members.get(frame.header.group as string)?.keys() ?? [])] } }));
    s.register(RequestCode.CREATE_TOPIC, (frame) => {
      const config = frame.header as unknown as TopicConfig;
      this.topics.set(config.topic, { topic: config.topic, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm });
      return {};
    });
    s.register(RequestCode.DELETE_TOPIC, (frame) => {
      if (!this.topics.delete(frame.header.topic as string)) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, 'no such topic');
      return {};
    });
    s.register(RequestCode.LIST_TOPICS, () => ({ header: { topics: [...this.topics.values()] } }));
    s.register(RequestCode.GET_CONSUMER_OFFSETS, (frame) => {
      const { group, topic } = frame.header as { group: string; topic?: string };
      const queues = [];
      for (const config of this.topics.values()) {
        if (topic !== undefined && config.topic !== topic) continue;
        for (let queueId = 0; queueId < config.readQueueNums; queueId++) {
          const committed = this.committed.get(`${group}@${config.topic}@${queueId}`);
          if (committed === undefined) continue;
          const maxOffset = this.queue(config.topic, queueId).length;
          queues.push({ topic: config.topic, queueId, minOffset: 0, maxOffset, committedOffset: committed, lag: maxOffset - committed });
        }
      }
      return { header: { group, queues } };
    });
  }

  async start(): Promise<this> {
    const port = await this.server.listen(0);
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  addTopic(topic: string, queueNums = 4, perm: number = TopicPerm.READ_WRITE): this {
    this.topics.set(topic, { topic, readQueueNums: queueNums, writeQueueNums: queueNums, perm });
    return this;
  }

  queue(topic: string, queueId: number): Stored[] {
    const key = `${topic}@${queueId}`;
    let stored = this.queues.get(key);
    if (!stored) this.queues.set(key, (stored = []));
    return stored;
  }

  /** Every stored message body of a topic, as strings. */
  bodies(topic: string): string[] {
    const out: string[] = [];
    for (const [key, stored] of this.queues) {
      if (!key.startsWith(`${topic}@`)) continue;
      for (const m of stored) {
        const bodyLength = m.record.readUInt32BE(RecordField.BODY_LENGTH);
        out.push(m.record.toString('utf8', RecordField.BODY, RecordField.BODY + bodyLength));
      }
    }
    return out;
  }

  releaseSends(): void {
    this.holdSends = false;
    for (const release of this.held.splice(0)) release();
  }

  get heldSends(): number {
    return this.held.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseSends();
    for (const waiter of this.waiters.splice(0)) waiter.wake();
    await this.server.close(100);
  }

  private requireTopic(topic: string): void {
    if (!this.topics.has(topic)) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `topic ${topic} does not exist on ${this.brokerName}`);
  }

  private notify(group: string): void {
    for (const connection of this.members.get(group)?.values() ?? []) {
      if (!connection.closed) connection.oneway(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { group });
    }
  }

  private async send(frame: Frame) {
    const records: Array<{ start: number; end: number; topic: string; queueId: number; tagHash: number }> = [];
    forEachRecord(frame.body, (start, sections) => {
      records.push({
        start,
        end: start + sections.totalSize,
        topic: frame.body.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength),
        queueId: frame.body.readUInt32BE(start + RecordField.QUEUE_ID),
        tagHash: tagHashOfBytes(frame.body, sections.tagsStart, sections.tagsStart + sections.tagsLength),
      });
    });
    this.sendFrames.push({ code: frame.code, producerGroup: frame.header.producerGroup, count: records.length, queueIds: records.map((r) => r.queueId), topics: records.map((r) => r.topic) });
    if (this.holdSends) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.failSends.count > 0) {
      this.failSends.count--;
      throw rpcFailure(this.failSends.code, `injected failure on ${this.brokerName}`);
    }
    for (const r of records) this.requireTopic(r.topic);
    const body = Buffer.alloc(records.length * SEND_RESULT_ENTRY_BYTES);
    const now = Date.now();
    records.forEach((r, i) => {
      const record = Buffer.from(frame.body.subarray(r.start, r.end));
      const stored = this.queue(r.topic, r.queueId);
      patchStoredFields(record, 0, readRecordSections(record, 0), stored.length, this.commitLogOffset, now, undefined);
      writeU64(body, i * SEND_RESULT_ENTRY_BYTES, stored.length);
      writeU64(body, i * SEND_RESULT_ENTRY_BYTES + 8, this.commitLogOffset);
      this.commitLogOffset += record.length;
      stored.push({ record, tagHash: r.tagHash, storeTimestamp: now });
    });
    for (const waiter of this.waiters.splice(0)) waiter.wake();
    return { code: this.sendStatus, header: { count: records.length, storeTimestamp: now, brokerName: this.brokerName }, body };
  }

  private async pull(frame: Frame) {
    const h = frame.header as { group: string; topic: string; queueId: number; offset: number; maxCount: number; tagHashes?: number[]; suspendMs?: number; commitOffset?: number };
    this.pulls.push({ ...h });
    this.requireTopic(h.topic);
    if (h.commitOffset !== undefined && h.commitOffset >= 0) this.committed.set(`${h.group}@${h.topic}@${h.queueId}`, h.commitOffset);
    const deadline = Date.now() + (h.suspendMs ?? 0);
    for (;;) {
      const stored = this.queue(h.topic, h.queueId);
      const range = { nextOffset: h.offset, minOffset: 0, maxOffset: stored.length };
      if (h.offset > stored.length || h.offset < 0) return { code: ResponseCode.PULL_OFFSET_MOVED, header: { ...range, nextOffset: stored.length, count: 0 } };
      const hashes = h.tagHashes && h.tagHashes.length > 0 ? new Set(h.tagHashes) : undefined;
      const out: Buffer[] = [];
      let offset = h.offset;
      for (; offset < stored.length && out.length < h.maxCount; offset++) {
        if (!hashes || hashes.has(stored[offset]!.tagHash)) out.push(stored[offset]!.record);
      }
      if (out.length > 0) return { header: { ...range, nextOffset: offset, count: out.length }, body: Buffer.concat(out) };
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) return { code: ResponseCode.PULL_NOT_FOUND, header: { ...range, nextOffset: offset, count: 0 } };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push({ topic: h.topic, queueId: h.queueId, wake: () => (clearTimeout(timer), resolve()) });
      });
      h.offset = offset;
    }
  }
}

export class FakeNameServer {
  readonly server = new RpcServer();
  address = '';
  readonly routes = new Map<string, TopicRouteData>();
  readonly brokers: FakeBroker[] = [];
  routeRequests = 0;

  constructor() {
    this.server.register(RequestCode.GET_ROUTE, (frame) => {
      this.routeRequests++;
      const topic = frame.header.topic as string;
      const route = this.routes.get(topic) ?? this.routeOf(topic);
      if (!route) throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, `no route for topic ${topic}`);
      return { header: route };
    });
    this.server.register(RequestCode.GET_CLUSTER_INFO, () => {
      const info: ClusterInfo = {
        clusters: { DefaultCluster: this.brokers.map((b) => b.brokerName) },
        brokers: this.brokers.map((b) => ({
          clusterName: 'DefaultCluster',
          brokerName: b.brokerName,
          brokerId: 0,
          brokerAddr: b.address,
          haAddr: '',
          lastUpdateTimestamp: Date.now(),
          dataVersion: 1,
          topicCount: b.topics.size,
        })),
      };
      return { header: info };
    });
  }

  /** Route derived from the brokers' topic tables, like a NameServer fed by registrations. */
  routeOf(topic: string): TopicRouteData | undefined {
    const having = this.brokers.filter((b) => b.topics.has(topic));
    if (having.length === 0) return undefined;
    return {
      topic,
      brokers: having.map((b) => ({ clusterName: 'DefaultCluster', brokerName: b.brokerName, addrs: { '0': b.address } })),
      queues: having.map((b) => {
        const c = b.topics.get(topic)!;
        return { brokerName: b.brokerName, readQueueNums: c.readQueueNums, writeQueueNums: c.writeQueueNums, perm: c.perm };
      }),
    };
  }

  async start(): Promise<this> {
    const port = await this.server.listen(0);
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    await this.server.close(100);
  }
}

/** A NameServer plus `brokerCount` brokers (broker-a, broker-b, ...), each with `topic` on `queueNums` queues. */
export async function startCluster(options: { brokers?: number; topics?: string[]; queueNums?: number } = {}) {
  const nameServer = await new FakeNameServer().start();
  const brokers: FakeBroker[] = [];
  for (let i = 0; i < (options.brokers ?? 1); i++) {
    const broker = await new FakeBroker(`broker-${String.fromCharCode(97 + i)}`).start();
    for (const topic of options.topics ?? []) broker.addTopic(topic, options.queueNums ?? 4);
    brokers.push(broker);
    nameServer.brokers.push(broker);
  }
  return {
    nameServer,
    brokers,
    async close() {
      await Promise.all(brokers.map((b) => b.close()));
      await nameServer.close();
    },
  };
}

export { readU64 };
