import type {
  CancelScheduledResponseHeader, CronJobInfo, CronJobSpec, CronListResponseHeader, Frame, FrameHeader,
} from '@litemq/protocol';
import { RemoteError, RequestCode } from '@litemq/protocol';
import type { AdminOptions } from './admin.js';
import { BrokerAdminBase } from './broker-admin-base.js';
import { checkInteger } from './util.js';
import type { BrokerTarget } from './broker-admin-base.js';

export type { CronJobInfo, CronJobSpec } from '@litemq/protocol';

/** Broker (by brokerName) holding the job. Default: the first master by name (puts), or the broker that has the job. */
export type CronTarget = BrokerTarget;

/**
 * Delayed-message and cron administration over the NameServers and broker masters:
 * cancel a scheduled message; create, update, pause, resume, delete, list and preview cron jobs.
 *
 *   const cron = new CronAdmin({ nameServers: ['127.0.0.1:9876'] });
 *   await cron.put({ id: 'report', cron: '0 0 9 * * 1-5', timezone: 'Europe/Paris', topic: 'Reports', template: { body: 'go' } });
 *   const upcoming = await cron.next('report', 5); // the next five fire times
 */
export class CronAdmin extends BrokerAdminBase {
  constructor(options: AdminOptions) {
    super(options, 'cron admin');
  }

  private check(): void {
    this.assertOpen();
  }

  /** Tries each candidate broker in turn; the first success wins (a "not found" from one broker moves on). */
  private async onAny(code: number, header: FrameHeader, target: CronTarget = {}): Promise<Frame> {
    let last: unknown;
    for (const broker of await this.masters(target)) {
      try {
        return await this.request(broker.brokerAddr, code, header, target.signal);
      } catch (error) {
        last = error;
        if (!(error instanceof RemoteError)) throw error;
      }
    }
    throw last;
  }

  /** Cancels a delayed message before it fires, by the id its send returned. */
  async cancelScheduled(msgId: string, target?: CronTarget): Promise<CancelScheduledResponseHeader> {
    this.check();
    const frame = await this.onAny(RequestCode.CANCEL_SCHEDULED, { msgId }, target);
    return frame.header as unknown as CancelScheduledResponseHeader;
  }

  /** Creates or replaces a job on one broker (default: the broker that already has it, else the first master). */
  async put(job: CronJobSpec, target: CronTarget = {}): Promise<CronJobInfo> {
    this.check();
    let brokerName = target.brokerName;
    if (brokerName === undefined) brokerName = (await this.find(job.id, target))?.brokerName ?? (await this.masters(target))[0]!.brokerName;
    const [broker] = await this.masters({ ...target, brokerName });
    const frame = await this.request(broker!.brokerAddr, RequestCode.CRON_PUT, { job } as unknown as FrameHeader, target.signal);
    return (frame.header as unknown as { job: CronJobInfo }).job;
  }

  private async find(id: string, target: CronTarget): Promise<CronJobInfo | undefined> {
    return (await this.list(target)).find((job) => job.id === id);
  }

  async pause(id: string, target?: CronTarget): Promise<CronJobInfo> {
    this.check();
    return ((await this.onAny(RequestCode.CRON_PAUSE, { id }, target)).header as unknown as { job: CronJobInfo }).job;
  }

  async resume(id: string, target?: CronTarget): Promise<CronJobInfo> {
    this.check();
    return ((await this.onAny(RequestCode.CRON_RESUME, { id }, target)).header as unknown as { job: CronJobInfo }).job;
  }

  /** Deletes a job wherever it is; false when no broker had it. */
  async delete(id: string, target?: CronTarget): Promise<boolean> {
    this.check();
    let deleted = false;
    for (const broker of await this.masters(target)) {
      const frame = await this.request(broker.brokerAddr, RequestCode.CRON_DELETE, { id }, target?.signal);
      deleted ||= frame.header.deleted === true;
    }
    return deleted;
  }

  /** Jobs of every broker master (or of one), ordered by id. */
  async list(target: CronTarget & { limit?: number } = {}): Promise<CronJobInfo[]> {
    this.check();
    const limit = checkInteger('limit', target.limit, 10_000, 1, 10_000);
    const jobs: CronJobInfo[] = [];
    for (const broker of await this.masters(target)) {
      const header = (await this.request(broker.brokerAddr, RequestCode.CRON_LIST, { offset: 0, limit }, target.signal)).header as unknown as CronListResponseHeader;
      jobs.push(...header.jobs.map((job) => ({ ...job, brokerName: job.brokerName ?? broker.brokerName })));
    }
    return jobs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The next `count` fire times of a job (ms since epoch). */
  async next(id: string, count = 5, target?: CronTarget): Promise<number[]> {
    this.check();
    const frame = await this.onAny(RequestCode.CRON_NEXT, { id, count: checkInteger('count', count, 5, 1, 1_000) }, target);
    return frame.header.times as number[];
  }

}
