import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CronJob } from './cron-job.js';
import { DelayError, DelayErrorCode } from './errors.js';

type LogRecord = { op: 'put'; job: CronJob } | { op: 'del'; id: string } | { op: 'fired'; id: string; at: number };

/**
 * Persistence of cron jobs: a snapshot (`jobs.json`) plus an append-only log of changes and firings
 * (`jobs.log`, one JSON record per line), folded into a new snapshot when the log grows.
 */
export class CronStore {
  private logLines = 0;
  private readonly snapshotPath: string;
  private readonly logPath: string;

  private constructor(dir: string, readonly jobs: Map<string, CronJob>) {
    this.snapshotPath = join(dir, 'jobs.json');
    this.logPath = join(dir, 'jobs.log');
  }

  static open(dir: string): CronStore {
    mkdirSync(dir, { recursive: true });
    const jobs = new Map<string, CronJob>();
    const store = new CronStore(dir, jobs);
    if (existsSync(store.snapshotPath)) {
      try {
        for (const job of JSON.parse(readFileSync(store.snapshotPath, 'utf8')) as CronJob[]) jobs.set(job.id, job);
      } catch (error) {
        throw new DelayError(DelayErrorCode.TIMER_CORRUPT, `cron snapshot ${store.snapshotPath} cannot be read: ${(error as Error).message}`, { cause: error });
      }
    }
    if (existsSync(store.logPath)) {
      const lines = readFileSync(store.logPath, 'utf8').split('\n');
      for (const line of lines) {
        if (line.length === 0) continue;
        let record: LogRecord;
        try {
          record = JSON.parse(line) as LogRecord;
        } catch {
          break; // a torn last line: everything before it is intact
        }
        store.apply(record);
      }
    }
    store.compact();
    return store;
  }

  private apply(record: LogRecord): void {
    if (record.op === 'put') this.jobs.set(record.job.id, record.job);
    else if (record.op === 'del') this.jobs.delete(record.id);
    else {
      const job = this.jobs.get(record.id);
      if (job && record.at > job.lastFiredAt) job.lastFiredAt = record.at;
    }
  }

  private write(records: LogRecord[]): void {
    if (records.length === 0) return;
    appendFileSync(this.logPath, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    this.logLines += records.length;
    if (this.logLines > Math.max(10_000, this.jobs.size * 2)) this.compact();
  }

  compact(): void {
    const tmp = `${this.snapshotPath}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.jobs.values()]));
    renameSync(tmp, this.snapshotPath);
    writeFileSync(this.logPath, '');
    this.logLines = 0;
  }

  put(job: CronJob): void {
    this.jobs.set(job.id, job);
    this.write([{ op: 'put', job }]);
  }

  delete(id: string): boolean {
    if (!this.jobs.delete(id)) return false;
    this.write([{ op: 'del', id }]);
    return true;
  }

  /** Records fired occurrences (one append for the whole batch). */
  fired(firings: ReadonlyArray<{ id: string; at: number }>): void {
    const records: LogRecord[] = [];
    for (const { id, at } of firings) {
      const job = this.jobs.get(id);
      if (!job) continue;
      if (at > job.lastFiredAt) job.lastFiredAt = at;
      records.push({ op: 'fired', id, at });
    }
    this.write(records);
  }
}
