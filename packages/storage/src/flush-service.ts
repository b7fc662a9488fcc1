import type { Logger } from 'pino';
import type { CommitLog } from './commit-log.js';
import { StorageError, StorageErrorCode } from './errors.js';
import type { FlushMode } from './options.js';

interface DurableWaiter {
  resolve: (durable: boolean) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
  settled: boolean;
}

/**
 * Makes written log bytes durable. `async`: fdatasync on an interval. `sync`: group commit, where every
 * append waiting while one fdatasync runs is served by the next one, so a burst of N appenders costs a
 * couple of fdatasyncs, not N.
 */
export class FlushService {
  flushedOffset: number;
  private timer: NodeJS.Timeout | undefined;
  private waiting: DurableWaiter[] = [];
  /** Set once fdatasync fails: the kernel may have dropped the dirty pages, so nothing after is trusted. */
  private fatal: StorageError | undefined;
  onFatal: ((error: StorageError) => void) | undefined;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly log: CommitLog,
    private readonly mode: FlushMode,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    this.flushedOffset = log.maxOffset;
  }

  start(): void {
    if (this.mode !== 'async') return;
    this.timer = setInterval(() => {
      this.flushNow().catch((error: unknown) => this.logger.error({ err: error }, 'periodic commit-log flush failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  /** fdatasync now (serialized with any sync in flight); returns the durable offset. */
  async flushNow(): Promise<number> {
    if (this.fatal) throw this.fatal;
    try {
      const synced = await this.log.sync();
      this.flushedOffset = Math.max(this.flushedOffset, synced);
    } catch (error) {
      throw this.fail(error);
    }
    return this.flushedOffset;
  }

  /**
   * An fdatasync error is final (as in PostgreSQL): a retry may "succeed" after the kernel dropped the pages,
   * so the flushed offset never advances again and the store refuses writes. Not retriable: the bytes of the
   * batch are written and readable, so a resend would duplicate them.
   */
  private fail(error: unknown): StorageError {
    if (!this.fatal) {
      this.fatal = new StorageError(StorageErrorCode.FLUSH_FAILED, `fdatasync failed; the store refuses writes from now on: ${(error as Error).message}`, { cause: error });
      this.logger.error({ err: error }, 'fdatasync failed: refusing writes');
      this.onFatal?.(this.fatal);
    }
    return this.fatal;
  }

  /**
   * Sync mode: resolves true once everything written so far is durable, false if that takes longer than the
   * timeout (the bytes are written but not yet confirmed on disk). Each waiter's clock starts when it asks,
   * so an fdatasync that hangs cannot hold later appends past their own timeout.
   */
  waitDurable(): Promise<boolean> {
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: DurableWaiter = {
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => {
          waiter.settled = true;
          resolve(false);
        }, this.timeoutMs),
      };
      this.waiting.push(waiter);
      if (!this.syncing) this.syncing = this.runRounds();
    });
  }

  private async runRounds(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const round = this.waiting;
        this.waiting = [];
        let outcome: StorageError | undefined;
        try {
          const synced = await this.log.sync();
          this.flushedOffset = Math.max(this.flushedOffset, synced);
        } catch (error) {
          outcome = this.fail(error);
        }
        const waiters = outcome ? [...round, ...this.waiting.splice(0)] : round;
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          if (waiter.settled) continue;
          waiter.settled = true;
          if (outcome) waiter.reject(outcome);
          else waiter.resolve(true);
        }
      }
    } finally {
      this.syncing = undefined;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
