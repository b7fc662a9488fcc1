import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { CommitLog } from './commit-log.js';
import { StorageError, StorageErrorCode } from './errors.js';
import type { IndexService } from './index-service.js';
import type { DiskUsageProbe, ResolvedStoreOptions } from './options.js';
import type { QueueRegistry } from './queue-registry.js';

export const statfsDiskUsage: DiskUsageProbe = async (dir) => {
  const stats = await statfs(dir);
  return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
};

export interface RetentionRun {
  usageRatio: number;
  deletedSegments: number;
  refusingWrites: boolean;
}

/**
 * Deletes whole commit-log segments that are older than the retention period, or the oldest ones while
 * the disk is above the clean threshold, never past what is flushed and dispatched. Above the refuse
 * threshold it tells the store to refuse writes: a clear DISK_FULL beats a torn write.
 */
export class RetentionService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionRun> | undefined;
  private readonly probe: DiskUsageProbe;

  constructor(
    private readonly dir: string,
    private readonly log: CommitLog,
    private readonly queues: QueueRegistry,
    private readonly index: IndexService,
    private readonly options: ResolvedStoreOptions,
    private readonly safeOffset: () => number,
    private readonly setRefusal: (reason: StorageError | undefined) => void,
    private readonly logger: Logger,
  ) {
    this.probe = options.diskUsageProbe ?? statfsDiskUsage;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.runOnce().catch((error: unknown) => this.logger.error({ err: error }, 'retention run failed'));
    }, this.options.cleanIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass of retention; concurrent callers share the pass in flight. */
  runOnce(): Promise<RetentionRun> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async usage(): Promise<number> {
    const { totalBytes, freeBytes } = await this.probe(this.dir);
    return totalBytes > 0 ? 1 - freeBytes / totalBytes : 0;
  }

  private async pass(): Promise<RetentionRun> {
    let usageRatio = await this.usage();
    const expiredBefore = Date.now() - this.options.retentionHours * 3_600_000;
    let deletedSegments = 0;
    while (true) {
      const mtime = await this.log.oldestSegmentMtimeMs();
      const expired = mtime !== undefined && mtime < expiredBefore;
      const pressure = usageRatio >= this.options.diskCleanRatio;
      if (!expired && !pressure) break;
      const deleted = await this.log.deleteOldestSegment(this.safeOffset());
      if (deleted === undefined) break;
      deletedSegments++;
      this.logger.info({ segment: deleted, reason: expired ? 'expired' : 'disk pressure', usageRatio }, 'deleted commit-log segment');
      usageRatio = await this.usage();
    }
    if (deletedSegments > 0) {
      const logMin = this.log.minOffset;
      for (const queue of this.queues.all()) await queue.deleteBelow(logMin);
      await this.index.deleteFilesBefore(logMin);
    }
    const refusingWrites = usageRatio >= this.options.diskRefuseRatio;
    this.setRefusal(
      refusingWrites
        ? new StorageError(StorageErrorCode.DISK_FULL, `disk usage ${(usageRatio * 100).toFixed(1)}% is above the ${(this.options.diskRefuseRatio * 100).toFixed(0)}% limit: writes refused`)
        : undefined,
    );
    return { usageRatio, deletedSegments, refusingWrites };
  }
}
