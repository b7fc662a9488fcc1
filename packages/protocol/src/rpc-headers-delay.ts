/**
 * Header shapes of the delayed-message and cron requests (request codes 60-69). Responses carry an
 * error (`error`, `errorCode`) like every other request when they fail.
 */

/** CANCEL_SCHEDULED: cancels the delayed message `msgId` (32 hex digits) before it fires. */
export type CancelScheduledRequestHeader = { msgId: string };
/** `deliverAt` of the cancelled message. */
export type CancelScheduledResponseHeader = { msgId: string; deliverAt: number };

export type CronMisfirePolicy = 'fire-once' | 'skip';

export type CronTemplateHeader = {
  body: string;
  keys?: string[];
  tags?: string;
  properties?: Record<string, string>;
};

/** A cron job as sent to CRON_PUT. */
export type CronJobSpec = {
  id: string;
  /** With seconds: 6 fields. */
  cron: string;
  /** IANA time zone; default UTC. */
  timezone?: string;
  topic: string;
  template: CronTemplateHeader;
  misfirePolicy?: CronMisfirePolicy;
  enabled?: boolean;
};

/** A cron job as a broker reports it. */
export type CronJobInfo = {
  id: string;
  cron: string;
  timezone: string;
  topic: string;
  template: CronTemplateHeader;
  misfirePolicy: CronMisfirePolicy;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** Scheduled time of the last fired occurrence (0 = none). */
  lastFiredAt: number;
  /** Next scheduled occurrence, absent when paused or finished. */
  nextAt?: number;
  brokerName?: string;
};

export type CronPutRequestHeader = { job: CronJobSpec };
export type CronPutResponseHeader = { job: CronJobInfo };
/** CRON_DELETE / CRON_PAUSE / CRON_RESUME. */
export type CronIdRequestHeader = { id: string };
export type CronDeleteResponseHeader = { deleted: boolean };
export type CronJobResponseHeader = { job: CronJobInfo };
export type CronListRequestHeader = { offset?: number; limit?: number };
export type CronListResponseHeader = { jobs: CronJobInfo[]; total: number };
export type CronNextRequestHeader = { id: string; count: number };
export type CronNextResponseHeader = { times: number[] };
