import type { Logger } from 'pino';
import type { CommitLog } from './commit-log.js';
import { StorageError, StorageErrorCode } from './errors.js';
import type { FlushMode } from './options.js';

interface SyncRound {
  resolvers: Array<(durable: boolean) => void>;
  rejecters: Array<(error: unknown) => void>;
}

/**
 * Makes written log bytes durable. `async`: fdatasync on an interval. `sync`: group commit, where every
 * append waiting while one fdatasync runs is served by the next one, so a burst of N appenders costs a
 * couple of fdatasyncs, not N.
 */
export class FlushService {
  flushedOffset: number;
  private timer: NodeJS.Timeout | undefined;
  private waiting: SyncRound = { resolvers: [], rejecters: [] };
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
    const synced = await this.log.sync();
    this.flushedOffset = Math.max(this.flushedOffset, synced);
    return this.flushedOffset;
  }

  /**
   * Sync mode: resolves true once everything written so far is durable, false if that takes longer
   * than the timeout (the bytes are written but not yet confirmed on disk).
   */
  waitDurable(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.waiting.resolvers.push(resolve);
      this.waiting.rejecters.push(reject);
      if (!this.syncing) this.syncing = this.runRounds();
    });
  }

  private async runRounds(): Promise<void> {
    try {
      while (this.waiting.resolvers.length > 0) {
        const round = this.waiting;
        this.waiting = { resolvers: [], rejecters: [] };
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          for (const resolve of round.resolvers) resolve(false);
        }, this.timeoutMs);
        try {
          const synced = await this.log.sync();
          this.flushedOffset = Math.max(this.flushedOffset, synced);
          if (!settled) for (const resolve of round.resolvers) resolve(true);
        } catch (error) {
          const failure = new StorageError(StorageErrorCode.WRITE_FAILED, `fdatasync failed: ${(error as Error).message}`, { cause: error });
          if (!settled) for (const reject of round.rejecters) reject(failure);
        } finally {
          settled = true;
          clearTimeout(timer);
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
