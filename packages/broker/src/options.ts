import type { Logger } from 'pino';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FRAME_BYTES, splitHostPort } from '@litemq/protocol';
import type { TimerStoreOptions } from '@litemq/delay';
import type { MessageStoreOptions } from '@litemq/storage';
import type { TransactionOptions } from '@litemq/txn';
import { resolveTransactionOptions } from '@litemq/txn';
import { BrokerError, BrokerErrorCode } from './errors.js';
import type { RetryOptions } from './retry-policy.js';
import { parseRetryLevels } from './retry-policy.js';

export interface BrokerOptions {
  /** Name of the replica set this broker belongs to. */
  brokerName: string;
  /** 0 = master. Default 0. */
  brokerId?: number;
  /** Default `DefaultCluster`. */
  clusterName?: string;
  /** Interface to listen on and to advertise. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 picks a free one (see `broker.address`). Default 0. */
  port?: number;
  /** Store, config and offsets live here. */
  dataDir: string;
  /** NameServer addresses (`host:port`) to register with. Default none. */
  nameServers?: string[];
  /** Create unknown topics on first send. Default true. */
  autoCreateTopic?: boolean;
  /** Read and write queues of auto-created topics. Default 8. */
  defaultQueueNums?: number;
  /** How often the broker re-registers with every NameServer. Default 30 000. */
  registerIntervalMs?: number;
  /** Timeout of one REGISTER_BROKER / UNREGISTER_BROKER request. Default 5 000. */
  registerTimeoutMs?: number;
  /** Longest a pull with nothing new is held (long polling). Default 15 000. */
  longPollingMaxMs?: number;
  /** Pulls held at once per connection; more get SYSTEM_BUSY. Default 1 000. */
  maxHeldPullsPerConnection?: number;
  /** Most bytes one pull response may carry, whatever the request asks. Default 4 MiB. */
  maxPullBytes?: number;
  /** Pull response bytes queued for (or being read for) one connection before its pulls get SYSTEM_BUSY. Default 64 MiB. */
  maxQueuedPullBytesPerConnection?: number;
  /** Most records one pull response may carry. Default 1 024. */
  maxPullCount?: number;
  /** Default 10 000. */
  maxConnections?: number;
  /** Requests handled at once per connection (held pulls included); more get SYSTEM_BUSY. Default 4 096. */
  maxInFlightPerConnection?: number;
  /** Frames above this close their connection. Default 16 MiB + 64 KiB. */
  maxFrameBytes?: number;
  /** Largest message body. Default 4 MiB. */
  maxMessageBytes?: number;
  /** Send bytes waiting for the store at once; more get SYSTEM_BUSY instead of queueing. Default 256 MiB. */
  maxPendingSendBytes?: number;
  /** Check every record's body CRC on send. Default true. */
  verifyBodyCrc?: boolean;
  /** Consumer and producer group members silent this long are dropped. Default 120 000. */
  clientExpiryMs?: number;
  /** How often committed consumer offsets are written to disk. Default 5 000. */
  offsetPersistIntervalMs?: number;
  /**
   * Most consumer groups the broker keeps committed offsets for, and most `%RETRY%` (and, separately, `%DLQ%`) topics
   * it creates for groups on heartbeats and send-backs: a new group beyond it is refused with INVALID_REQUEST
   * `CONSUMER_GROUP_LIMIT`. Bounds what made-up group names can make the broker hold. Default 10 000.
   */
  maxConsumerGroups?: number;
  /** Consumer groups, and producer groups, one heartbeat may list; more: INVALID_REQUEST `HEARTBEAT_TOO_MANY_GROUPS`. Default 64. */
  maxGroupsPerHeartbeat?: number;
  /**
   * Lease of an orderly consumer's queue lock: a lock not renewed for this long can be taken by another member
   * of the group (how long a crashed consumer's queues wait). Clients renew every 20 s by default. Default 60 000.
   */
  queueLockLeaseMs?: number;
  /** How long close() waits for in-flight requests. Default 5 000. */
  closeGraceMs?: number;
  /** Passed through to MessageStore.open (`maxBodyBytes` defaults to maxMessageBytes, `storeHost` to the address). */
  store?: MessageStoreOptions;
  /** Transactional messages: check immunity, interval, max checks, exhaustion policy (see @litemq/txn). */
  transaction?: TransactionOptions;
  /** Delayed messages and cron jobs: timer precisionMs, wheelSpanMs, maxDelayMs... (see @litemq/delay). */
  timer?: Omit<TimerStoreOptions, 'logger'>;
  /** Retry of failed messages: backoff `levels` (default `10s 30s 1m … 2h`) and default `maxReconsumeTimes` (16). */
  retry?: RetryOptions;
  logger?: Logger;
}

export type ResolvedBrokerOptions = Required<Omit<BrokerOptions, 'logger' | 'store'>> & { store: MessageStoreOptions; logger: Logger | undefined };

const DEFAULTS = {
  brokerId: 0,
  clusterName: 'DefaultCluster',
  host: '127.0.0.1',
  port: 0,
  nameServers: [] as string[],
  autoCreateTopic: true,
  defaultQueueNums: 8,
  registerIntervalMs: 30_000,
  registerTimeoutMs: 5_000,
  longPollingMaxMs: 15_000,
  maxHeldPullsPerConnection: 1_000,
  maxPullBytes: 4 * 1024 * 1024,
  maxPullCount: 1_024,
  maxQueuedPullBytesPerConnection: 64 * 1024 * 1024,
  maxConnections: 10_000,
  maxInFlightPerConnection: 4_096,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxMessageBytes: DEFAULT_MAX_BODY_BYTES,
  maxPendingSendBytes: 256 * 1024 * 1024,
  verifyBodyCrc: true,
  clientExpiryMs: 120_000,
  offsetPersistIntervalMs: 5_000,
  maxConsumerGroups: 10_000,
  maxGroupsPerHeartbeat: 64,
  queueLockLeaseMs: 60_000,
  closeGraceMs: 5_000,
  timer: {} as Omit<TimerStoreOptions, 'logger'>,
  transaction: {} as TransactionOptions,
  retry: {} as RetryOptions,
};

const KNOWN = new Set([...Object.keys(DEFAULTS), 'brokerName', 'dataDir', 'store', 'logger']);

function fail(message: string): never {
  throw new BrokerError(BrokerErrorCode.INVALID_OPTIONS, message);
}

function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
}

function nonEmptyString(name: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) fail(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
}

function boolean(name: string, value: unknown): void {
  if (typeof value !== 'boolean') fail(`${name} must be a boolean, got ${JSON.stringify(value)}`);
}

/** Fills defaults and rejects unknown keys and bad values with INVALID_OPTIONS naming the option. */
export function resolveBrokerOptions(options: BrokerOptions): ResolvedBrokerOptions {
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option ${JSON.stringify(key)}`);
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved = { ...DEFAULTS, store: {}, logger: undefined, ...defined } as ResolvedBrokerOptions;
  nonEmptyString('brokerName', resolved.brokerName);
  if (!/^[A-Za-z0-9_.-]+$/.test(resolved.brokerName)) fail(`brokerName may only contain letters, digits, '.', '-' and '_', got ${JSON.stringify(resolved.brokerName)}`);
  nonEmptyString('clusterName', resolved.clusterName);
  nonEmptyString('dataDir', resolved.dataDir);
  nonEmptyString('host', resolved.host);
  integer('brokerId', resolved.brokerId, 0, 1_000_000);
  integer('port', resolved.port, 0, 65_535);
  if (!Array.isArray(resolved.nameServers)) fail('nameServers must be an array of "host:port" strings');
  for (const address of resolved.nameServers) {
    try {
      const { port } = splitHostPort(address);
      if (!(port > 0)) throw new Error('no port');
    } catch {
      fail(`nameServers entry ${JSON.stringify(address)} is not a "host:port" address`);
    }
  }
  boolean('autoCreateTopic', resolved.autoCreateTopic);
  boolean('verifyBodyCrc', resolved.verifyBodyCrc);
  integer('defaultQueueNums', resolved.defaultQueueNums, 1, 1024);
  integer('registerIntervalMs', resolved.registerIntervalMs, 10);
  integer('registerTimeoutMs', resolved.registerTimeoutMs, 10);
  integer('longPollingMaxMs', resolved.longPollingMaxMs, 0);
  integer('maxHeldPullsPerConnection', resolved.maxHeldPullsPerConnection, 0);
  integer('maxPullBytes', resolved.maxPullBytes, 1024);
  integer('maxPullCount', resolved.maxPullCount, 1);
  integer('maxQueuedPullBytesPerConnection', resolved.maxQueuedPullBytesPerConnection, 1024);
  integer('maxConnections', resolved.maxConnections, 1);
  integer('maxInFlightPerConnection', resolved.maxInFlightPerConnection, 1);
  integer('maxFrameBytes', resolved.maxFrameBytes, 1024);
  integer('maxMessageBytes', resolved.maxMessageBytes, 1);
  integer('maxPendingSendBytes', resolved.maxPendingSendBytes, 1);
  integer('clientExpiryMs', resolved.clientExpiryMs, 10);
  integer('offsetPersistIntervalMs', resolved.offsetPersistIntervalMs, 10);
  integer('maxConsumerGroups', resolved.maxConsumerGroups, 1);
  integer('maxGroupsPerHeartbeat', resolved.maxGroupsPerHeartbeat, 1, 65_535);
  integer('queueLockLeaseMs', resolved.queueLockLeaseMs, 10);
  integer('closeGraceMs', resolved.closeGraceMs, 0);
  if (typeof resolved.store !== 'object' || resolved.store === null) fail('store must be an object of MessageStoreOptions');
  if (typeof resolved.retry !== 'object' || resolved.retry === null) fail('retry must be an object');
  try {
    parseRetryLevels(resolved.retry.levels);
  } catch (error) {
    fail(`retry.levels: ${(error as Error).message}`);
  }
  if (resolved.retry.maxReconsumeTimes !== undefined) integer('retry.maxReconsumeTimes', resolved.retry.maxReconsumeTimes, 0, 1000);
  try {
    resolveTransactionOptions(resolved.transaction);
  } catch (error) {
    fail((error as Error).message);
  }
  return resolved;
}
