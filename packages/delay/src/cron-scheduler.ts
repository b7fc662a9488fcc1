import type { Logger } from 'pino';
import type { CronJob, CronJobInput } from './cron-job.js';
import { cronJobKey, cronMessageId, nextOccurrence, nextOccurrences, validateCronInput } from './cron-job.js';
import { CronStore } from './cron-store.js';
import { DelayError, DelayErrorCode } from './errors.js';
import { TimerFlag } from './timer-layout.js';
import type { DueTimer, TimerStore } from './timer-store.js';

/** One message to publish for a job occurrence. */
export interface CronFiring {
  job: CronJob;
  /** The occurrence's scheduled time (ms). */
  scheduledAt: number;
  /** Deterministic: cronMessageId(job.id, scheduledAt). */
  msgId: string;
  /** True for the single catch-up firing of the fire-once misfire policy. */
  catchUp: boolean;
}

export interface CronSchedulerOptions {
  /** Each job's next occurrence is one timer here (flag CRON); the owner routes CRON timers to handleDue. */
  timers: TimerStore;
  /** Publishes the firings' messages; a rejection retries them. */
  publish: (firings: CronFiring[]) => Promise<void>;
  /** Whether a message id is already stored (guards the first firing after a restart against a duplicate). */
  exists?: (msgId: string) => Promise<boolean>;
  /** An occurrence later than this when handled counts as missed (misfire policy applies). Default 1 000. */
  misfireGraceMs?: number;
  logger?: Logger;
}

interface JobRuntime {
  nextAt: number | undefined;
  firing: number | undefined;
  /** Set after a restart: check the store before the first firing (it may have been published before the crash). */
  verify: boolean;
}

export interface CronListOptions {
  offset?: number;
  limit?: number;
}

/**
 * Cron jobs at scale: definitions persisted in a CronStore; only each job's next occurrence is scheduled,
 * as one entry in the TimerStore (no timer object per job in memory). Each firing carries a deterministic
 * message id (job id + scheduled time) and is recorded, so a restart never fires an occurrence twice.
 */
export class CronScheduler {
  private readonly store: CronStore;
  private readonly runtime = new Map<string, JobRuntime>();
  private readonly byKey = new Map<string, string>();
  private readonly grace: number;
  private readonly logger: Logger | undefined;
  private closed = false;
  private skipped = 0;
  private catchUps = 0;
  private firedCount = 0;

  private constructor(dir: string, private readonly options: CronSchedulerOptions) {
    this.store = CronStore.open(dir);
    this.grace = options.misfireGraceMs ?? 1_000;
    this.logger = options.logger;
  }

  /** Opens the job store in `dir` and schedules every enabled job, applying misfire policies for an outage. */
  static async open(dir: string, options: CronSchedulerOptions): Promise<CronScheduler> {
    const scheduler = new CronScheduler(dir, options);
    await scheduler.recover();
    return scheduler;
  }

  private async recover(): Promise<void> {
    const now = Date.now();
    const catchUps: CronFiring[] = [];
    for (const job of this.store.jobs.values()) {
      this.byKey.set(cronJobKey(job.id), job.id);
      const runtime: JobRuntime = { nextAt: undefined, firing: undefined, verify: true };
      this.runtime.set(job.id, runtime);
      if (!job.enabled) continue;
      const first = nextOccurrence(job, Math.max(job.lastFiredAt, job.activeSince - 1));
      if (first === undefined) continue;
      if (first >= now - this.grace) {
        this.scheduleAt(job, runtime, first);
        continue;
      }
      // Missed during the outage.
      let latest = first;
      for (let i = 0; i < 1_000_000; i++) {
        const next = nextOccurrence(job, latest);
        if (next === undefined || next > now) break;
        latest = next;
      }
      if (job.misfirePolicy === 'fire-once') {
        const msgId = cronMessageId(job.id, latest);
        if (!(await this.options.exists?.(msgId))) catchUps.push({ job, scheduledAt: latest, msgId, catchUp: true });
      } else {
        this.skipped++;
      }
      const next = nextOccurrence(job, Math.max(latest, now));
      if (next !== undefined) this.scheduleAt(job, runtime, next);
    }
    if (catchUps.length > 0) {
      this.logger?.info({ jobs: catchUps.length }, 'cron: firing one catch-up message per job that missed occurrences');
      await this.options.publish(catchUps);
      this.store.fired(catchUps.map((firing) => ({ id: firing.job.id, at: firing.scheduledAt })));
      this.catchUps += catchUps.length;
      this.firedCount += catchUps.length;
    }
  }

  private scheduleAt(job: CronJob, runtime: JobRuntime, at: number): void {
    runtime.nextAt = at;
    this.options.timers.schedule(at, 0, 0, cronJobKey(job.id), TimerFlag.CRON);
  }

  private check(): void {
    if (this.closed) throw new DelayError(DelayErrorCode.CLOSED, 'the cron scheduler is closed');
  }

  /** Creates or replaces a job; returns it. Throws CRON_INVALID naming what is wrong. */
  put(input: CronJobInput): CronJob {
    this.check();
    const valid = validateCronInput(input);
    const now = Date.now();
    const previous = this.store.jobs.get(valid.id);
    const job: CronJob = {
      ...valid, createdAt: previous?.createdAt ?? now, updatedAt: now, activeSince: now, lastFiredAt: previous?.lastFiredAt ?? 0,
    };
    this.store.put(job);
    this.byKey.set(cronJobKey(job.id), job.id);
    const runtime: JobRuntime = { nextAt: undefined, firing: undefined, verify: false };
    this.runtime.set(job.id, runtime);
    if (job.enabled) {
      const next = nextOccurrence(job, Math.max(now, job.lastFiredAt));
      if (next !== undefined) this.scheduleAt(job, runtime, next);
    }
    return job;
  }

  private require(id: string): CronJob {
    const job = this.store.jobs.get(id);
    if (!job) throw new DelayError(DelayErrorCode.CRON_NOT_FOUND, `no cron job with id ${JSON.stringify(id)}`);
    return job;
  }

  get(id: string): CronJob | undefined {
    return this.store.jobs.get(id);
  }

  /** Deletes a job; false when there was none. */
  delete(id: string): boolean {
    this.check();
    this.runtime.delete(id);
    this.byKey.delete(cronJobKey(id));
    return this.store.delete(id);
  }

  pause(id: string): CronJob {
    this.check();
    const job = this.require(id);
    if (!job.enabled) return job;
    return this.put({ ...job, enabled: false });
  }

  /** Resumes a paused job from now on (occurrences missed while paused are not fired). */
  resume(id: string): CronJob {
    this.check();
    const job = this.require(id);
    if (job.enabled) return job;
    return this.put({ ...job, enabled: true });
  }

  /** Jobs ordered by id. */
  list(options: CronListOptions = {}): { jobs: Array<CronJob & { nextAt: number | undefined }>; total: number } {
    const ids = [...this.store.jobs.keys()].sort();
    const offset = options.offset ?? 0;
    const limit = options.limit ?? 1_000;
    const jobs = ids.slice(offset, offset + limit).map((id) => ({ ...this.store.jobs.get(id)!, nextAt: this.runtime.get(id)?.nextAt }));
    return { jobs, total: ids.length };
  }

  /** Next `count` fire times of a job (from now). */
  next(id: string, count: number): number[] {
    const job = this.require(id);
    return nextOccurrences(job, count, Math.max(Date.now(), job.lastFiredAt));
  }

  /** Handles due CRON timers (the TimerStore owner routes them here). Stale entries are ignored. */
  async handleDue(timers: DueTimer[]): Promise<void> {
    if (this.closed) throw new DelayError(DelayErrorCode.CLOSED, 'the cron scheduler is closed');
    const claimed: Array<{ firing: CronFiring; runtime: JobRuntime }> = [];
    const now = Date.now();
    for (const timer of timers) {
      const id = this.byKey.get(timer.msgId);
      const job = id === undefined ? undefined : this.store.jobs.get(id);
      const runtime = id === undefined ? undefined : this.runtime.get(id);
      if (!job || !runtime || !job.enabled || runtime.nextAt !== timer.deliverAt || runtime.firing !== undefined || timer.deliverAt <= job.lastFiredAt) continue;
      runtime.firing = timer.deliverAt;
      const late = now - timer.deliverAt > this.grace;
      const firing: CronFiring = { job, scheduledAt: timer.deliverAt, msgId: cronMessageId(job.id, timer.deliverAt), catchUp: late };
      if (late && job.misfirePolicy === 'skip') {
        this.skipped++;
        claimed.push({ firing: { ...firing, msgId: '' }, runtime });
        continue;
      }
      claimed.push({ firing, runtime });
    }
    if (claimed.length === 0) return;
    try {
      let toPublish = claimed.map((claim) => claim.firing).filter((firing) => firing.msgId !== '');
      const verify = claimed.filter((claim) => claim.runtime.verify && claim.firing.msgId !== '');
      if (verify.length > 0 && this.options.exists) {
        const present = new Set<string>();
        for (const claim of verify) if (await this.options.exists(claim.firing.msgId)) present.add(claim.firing.msgId);
        toPublish = toPublish.filter((firing) => !present.has(firing.msgId));
      }
      if (toPublish.length > 0) await this.options.publish(toPublish);
    } catch (error) {
      for (const { runtime } of claimed) runtime.firing = undefined;
      throw error;
    }
    this.store.fired(claimed.filter((claim) => claim.firing.msgId !== '').map((claim) => ({ id: claim.firing.job.id, at: claim.firing.scheduledAt })));
    this.firedCount += claimed.length;
    const after = Date.now();
    for (const { firing, runtime } of claimed) {
      runtime.firing = undefined;
      runtime.verify = false;
      const job = firing.job;
      if (this.store.jobs.get(job.id) !== job || !job.enabled) continue; // updated or deleted meanwhile
      // The next occurrence after this one; when that is already long past (a slow broker), the policy decides.
      let next = nextOccurrence(job, firing.scheduledAt);
      if (next !== undefined && next < after - this.grace) {
        // skip: drop the missed ones; fire-once: the late firing just published was the one catch-up.
        next = nextOccurrence(job, after);
      }
      if (next !== undefined) this.scheduleAt(job, runtime, next);
      else runtime.nextAt = undefined;
    }
  }

  stats(): { jobs: number; fired: number; catchUps: number; skipped: number } {
    return { jobs: this.store.jobs.size, fired: this.firedCount, catchUps: this.catchUps, skipped: this.skipped };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.compact();
  }
}
