import { z } from 'zod';

const hostPort = z.string().regex(/^\[?[^\]\s]+\]?:\d{1,5}$/, 'must be host:port');
const port = z.number().int().min(0).max(65_535);
const positiveMs = z.number().int().positive();

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const nameServerSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(9876),
    brokerExpiryMs: positiveMs.default(120_000),
    scanIntervalMs: positiveMs.default(10_000),
  })
  .strict();

export const storeSchema = z
  .object({
    flushMode: z.enum(['async', 'sync']).default('async'),
    flushIntervalMs: positiveMs.default(500),
    checkpointIntervalMs: positiveMs.default(1000),
    syncFlushTimeoutMs: positiveMs.default(2000),
    segmentBytes: z.number().int().min(64 * 1024 * 1024).default(1024 * 1024 * 1024),
    retentionHours: z.number().positive().default(72),
    diskCleanRatio: z.number().gt(0).max(1).default(0.85),
    diskRefuseRatio: z.number().gt(0).max(1).default(0.9),
  })
  .strict();

export const transactionSchema = z
  .object({
    immunityMs: z.number().int().min(0).default(6_000),
    checkIntervalMs: z.number().int().min(10).default(30_000),
    maxChecks: z.number().int().min(0).max(65_534).default(15),
    exhaustionPolicy: z.enum(['rollback', 'keep']).default('rollback'),
  })
  .strict();

/** Timer store of delayed messages and cron jobs (`broker.timer.*`). Precision and wheel span are fixed once a data dir exists. */
export const timerSchema = z
  .object({
    precisionMs: z.number().int().min(1).max(60_000).default(100),
    maxDelayMs: z.number().int().min(0).max(10 * 365 * 86_400_000).default(365 * 86_400_000),
    wheelSpanMs: z.number().int().min(1_000).max(30 * 86_400_000).default(86_400_000),
  })
  .strict();

const DURATION = String.raw`\d+(?:\.\d+)?(?:ms|s|m|h|d)?`;

/** Retry of failed messages (`broker.retry.*`): backoff levels as space-separated durations, default retry limit. */
export const retrySchema = z
  .object({
    levels: z
      .string()
      .regex(new RegExp(`^\\s*${DURATION}(?:[\\s,]+${DURATION})*\\s*$`), 'space-separated durations such as "10s 30s 1m 2h"')
      .default('10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h'),
    maxReconsumeTimes: z.number().int().min(0).max(1000).default(16),
  })
  .strict();

export const brokerSchema = z
  .object({
    brokerName: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only').default('broker-a'),
    brokerId: z.number().int().min(0).default(0),
    clusterName: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only').default('DefaultCluster'),
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(10911),
    dataDir: z.string().min(1).default('./data'),
    nameServers: z.array(hostPort).default(['127.0.0.1:9876']),
    autoCreateTopic: z.boolean().default(false),
    defaultQueueNums: z.number().int().min(1).max(1024).default(8),
    registerIntervalMs: positiveMs.default(30_000),
    longPollingMaxMs: positiveMs.default(15_000),
    /** Lease of an orderly consumer's queue lock: a crashed consumer's queues pass to another member this long after its last renewal. */
    queueLockLeaseMs: z.number().int().min(10).default(60_000),
    maxConnections: z.number().int().positive().default(10_000),
    /** Consumer groups the broker keeps offsets and retry/DLQ topics for; a new group beyond it is refused (CONSUMER_GROUP_LIMIT). */
    maxConsumerGroups: z.number().int().positive().default(10_000),
    /** Consumer (and producer) groups one client heartbeat may list. */
    maxGroupsPerHeartbeat: z.number().int().positive().max(65_535).default(64),
    maxMessageBytes: z.number().int().positive().max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    store: storeSchema.default(storeSchema.parse({})),
    transaction: transactionSchema.default(transactionSchema.parse({})),
    timer: timerSchema.default(timerSchema.parse({})),
    retry: retrySchema.default(retrySchema.parse({})),
  })
  .strict();

export const configSchema = z
  .object({
    log: logSchema.default(logSchema.parse({})),
    nameserver: nameServerSchema.default(nameServerSchema.parse({})),
    broker: brokerSchema.default(brokerSchema.parse({})),
  })
  .strict();

export type LiteMQConfig = z.infer<typeof configSchema>;
