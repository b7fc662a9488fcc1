import { TxnError, TxnErrorCode } from './errors.js';

export type ExhaustionPolicy = 'rollback' | 'keep';

export interface TransactionOptions {
  /** A half is first checked this long after it was stored (per message: the `$txImmunityMs` property). Default 6 000. */
  immunityMs?: number;
  /** Interval between two checks of the same half. Default 30 000. */
  checkIntervalMs?: number;
  /** Checks per half before the exhaustion policy applies. Default 15. */
  maxChecks?: number;
  /** What happens after maxChecks unanswered checks: `rollback` (default) or `keep` for an operator. */
  exhaustionPolicy?: ExhaustionPolicy;
  /** How often due halves are looked for. Default min(1 000, checkIntervalMs, immunityMs). */
  scanIntervalMs?: number;
  /** Check-backs in flight at once (bounds the half records held in memory by checking). Default 256. */
  checkConcurrency?: number;
  /** How often the pending state is snapshotted (bounds the replay after a crash). Default 5 000. */
  snapshotIntervalMs?: number;
  /** Bytes of recently stored half records kept to serve END_TRANSACTION without a read. Default 16 MiB. */
  halfCacheBytes?: number;
  /** Outcomes of recent resolutions remembered to answer duplicates. Default 65 536. */
  recentResolutions?: number;
}

export type ResolvedTransactionOptions = Required<TransactionOptions>;

const DEFAULTS = {
  immunityMs: 6_000,
  checkIntervalMs: 30_000,
  maxChecks: 15,
  exhaustionPolicy: 'rollback' as ExhaustionPolicy,
  checkConcurrency: 256,
  snapshotIntervalMs: 5_000,
  halfCacheBytes: 16 * 1024 * 1024,
  recentResolutions: 65_536,
};

const KNOWN = new Set([...Object.keys(DEFAULTS), 'scanIntervalMs']);

function fail(message: string): never {
  throw new TxnError(TxnErrorCode.INVALID_OPTIONS, message);
}

function integer(name: string, value: unknown, min: number, max = 2 ** 31 - 1): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`transaction.${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
}

/** Fills defaults; unknown keys and bad values throw INVALID_OPTIONS naming the option. */
export function resolveTransactionOptions(options: TransactionOptions = {}): ResolvedTransactionOptions {
  if (typeof options !== 'object' || options === null) fail('transaction options must be an object');
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option transaction.${key}`);
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const merged = { ...DEFAULTS, ...defined } as ResolvedTransactionOptions;
  integer('immunityMs', merged.immunityMs, 0);
  integer('checkIntervalMs', merged.checkIntervalMs, 10);
  integer('maxChecks', merged.maxChecks, 0, 0xfffe);
  if (merged.exhaustionPolicy !== 'rollback' && merged.exhaustionPolicy !== 'keep') {
    fail(`transaction.exhaustionPolicy must be "rollback" or "keep", got ${JSON.stringify(merged.exhaustionPolicy)}`);
  }
  merged.scanIntervalMs ??= Math.max(10, Math.min(1_000, merged.checkIntervalMs, merged.immunityMs || 1_000));
  integer('scanIntervalMs', merged.scanIntervalMs, 10);
  integer('checkConcurrency', merged.checkConcurrency, 1, 65_536);
  integer('snapshotIntervalMs', merged.snapshotIntervalMs, 10);
  integer('halfCacheBytes', merged.halfCacheBytes, 0);
  integer('recentResolutions', merged.recentResolutions, 0);
  return merged;
}
