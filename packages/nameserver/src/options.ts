import type { Logger } from 'pino';
import { NameServerError, NameServerErrorCode } from './errors.js';

export interface RouteRegistryOptions {
  /** A broker silent (no registration) for longer than this is dropped by `expire`. Default 120 000. */
  brokerExpiryMs?: number;
  /** Read and write queue count offered for a topic auto-created by brokers with `autoCreateTopic`. Default 8. */
  defaultQueueNums?: number;
  logger?: Logger;
}

export interface NameServerOptions extends RouteRegistryOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 picks a free port. Default 0 (the CLI defaults to 9876). */
  port?: number;
  /** How often silent brokers are looked for and dropped. Default 10 000. */
  scanIntervalMs?: number;
  /** How long `close()` waits for in-flight requests before closing connections. Default 5000. */
  closeGraceMs?: number;
}

export type ResolvedRouteRegistryOptions = Required<Omit<RouteRegistryOptions, 'logger'>> & Pick<RouteRegistryOptions, 'logger'>;
export type ResolvedNameServerOptions = Required<Omit<NameServerOptions, 'logger'>> & Pick<NameServerOptions, 'logger'>;

export const DEFAULT_BROKER_EXPIRY_MS = 120_000;
export const DEFAULT_SCAN_INTERVAL_MS = 10_000;
export const DEFAULT_QUEUE_NUMS = 8;
/** Queue ids are u16 on the wire, so a topic has at most 65 536 queues per broker. */
export const MAX_QUEUE_NUMS = 65_536;

const REGISTRY_DEFAULTS: Omit<ResolvedRouteRegistryOptions, 'logger'> = {
  brokerExpiryMs: DEFAULT_BROKER_EXPIRY_MS,
  defaultQueueNums: DEFAULT_QUEUE_NUMS,
};

const SERVER_DEFAULTS: Omit<ResolvedNameServerOptions, 'logger'> = {
  ...REGISTRY_DEFAULTS,
  host: '127.0.0.1',
  port: 0,
  scanIntervalMs: DEFAULT_SCAN_INTERVAL_MS,
  closeGraceMs: 5000,
};

function fail(message: string): never {
  throw new NameServerError(NameServerErrorCode.INVALID_OPTIONS, message);
}

function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
}

function merge<T extends object>(defaults: T, options: object, extraKeys: readonly string[]): T {
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  const resolved: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(key in defaults) && !extraKeys.includes(key)) fail(`unknown option ${JSON.stringify(key)}`);
    resolved[key] = value;
  }
  return resolved as T;
}

function checkLogger(logger: unknown): void {
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof (logger as { warn?: unknown }).warn !== 'function')) {
    fail('logger must be a pino Logger');
  }
}

function checkRegistry(resolved: Omit<ResolvedRouteRegistryOptions, 'logger'> & { logger?: unknown }): void {
  integer('brokerExpiryMs', resolved.brokerExpiryMs, 1);
  integer('defaultQueueNums', resolved.defaultQueueNums, 1, MAX_QUEUE_NUMS);
  checkLogger(resolved.logger);
}

/** Fills registry defaults; rejects unknown keys and bad values with INVALID_OPTIONS naming the option. */
export function resolveRouteRegistryOptions(options: RouteRegistryOptions = {}): ResolvedRouteRegistryOptions {
  const resolved = merge<ResolvedRouteRegistryOptions>(REGISTRY_DEFAULTS, options, ['logger']);
  checkRegistry(resolved);
  return resolved;
}

/** Fills NameServer defaults; rejects unknown keys and bad values with INVALID_OPTIONS naming the option. */
export function resolveNameServerOptions(options: NameServerOptions = {}): ResolvedNameServerOptions {
  const resolved = merge<ResolvedNameServerOptions>(SERVER_DEFAULTS, options, ['logger']);
  checkRegistry(resolved);
  if (typeof resolved.host !== 'string' || resolved.host.length === 0) fail(`host must be a non-empty string, got ${JSON.stringify(resolved.host)}`);
  integer('port', resolved.port, 0, 65_535);
  integer('scanIntervalMs', resolved.scanIntervalMs, 1);
  integer('closeGraceMs', resolved.closeGraceMs, 0);
  return resolved;
}
