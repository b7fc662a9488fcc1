import pino from 'pino';
import type { Frame, FrameHeader, RegisterBrokerRequestHeader, TopicConfig } from '@litemq/protocol';
import { RemoteError, RequestCode, RpcClient, TopicPerm, expectSuccess } from '@litemq/protocol';
import type { ClusterInfo, TopicRouteData } from '@litemq/protocol';
import { NameServer } from '../src/index.js';
import type { NameServerOptions } from '../src/index.js';

export const silent = pino({ level: 'silent' });

export function topic(name: string, queues = 4, perm: number = TopicPerm.READ_WRITE): TopicConfig {
  return { topic: name, readQueueNums: queues, writeQueueNums: queues, perm };
}

export function broker(overrides: Partial<RegisterBrokerRequestHeader> & { brokerAddr: string }): RegisterBrokerRequestHeader {
  return {
    clusterName: 'DefaultCluster',
    brokerName: 'broker-a',
    brokerId: 0,
    haAddr: '',
    dataVersion: 1,
    autoCreateTopic: false,
    topics: [],
    ...overrides,
  };
}

/** A NameServer on an ephemeral port plus a client talking to it; `close` stops both. */
export class Harness {
  private constructor(
    readonly server: NameServer,
    readonly client: RpcClient,
  ) {}

  static async start(options: NameServerOptions = {}): Promise<Harness> {
    const server = await NameServer.start({ logger: silent, ...options });
    return new Harness(server, new RpcClient());
  }

  request(code: number, header?: FrameHeader): Promise<Frame> {
    return this.client.request(this.server.address, code, header);
  }

  async register(registration: RegisterBrokerRequestHeader): Promise<void> {
    expectSuccess(await this.request(RequestCode.REGISTER_BROKER, registration));
  }

  async unregister(registration: RegisterBrokerRequestHeader): Promise<void> {
    const { clusterName, brokerName, brokerId, brokerAddr } = registration;
    expectSuccess(await this.request(RequestCode.UNREGISTER_BROKER, { clusterName, brokerName, brokerId, brokerAddr }));
  }

  async route(topicName: string): Promise<TopicRouteData> {
    return expectSuccess(await this.request(RequestCode.GET_ROUTE, { topic: topicName })).header as unknown as TopicRouteData;
  }

  /** The RemoteError a request fails with (fails the test if it succeeds). */
  async failure(code: number, header?: FrameHeader): Promise<RemoteError> {
    const frame = await this.request(code, header);
    try {
      expectSuccess(frame);
    } catch (error) {
      if (error instanceof RemoteError) return error;
      throw error;
    }
    throw new Error(`request ${code} unexpectedly succeeded`);
  }

  async clusterInfo(): Promise<ClusterInfo> {
    return expectSuccess(await this.request(RequestCode.GET_CLUSTER_INFO)).header as unknown as ClusterInfo;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server.close();
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes (then throws, naming `what`). */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 5000, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
