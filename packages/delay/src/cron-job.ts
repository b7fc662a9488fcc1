import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { DelayError, DelayErrorCode } from './errors.js';

export type MisfirePolicy = 'fire-once' | 'skip';

/** The message a cron job publishes at each firing. */
export interface CronTemplate {
  body: string;
  keys?: string[];
  tags?: string;
  properties?: Record<string, string>;
}

/** What a caller gives to create or update a job. */
export interface CronJobInput {
  id: string;
  /** Cron expression; 6 fields = with seconds (`*\/5 * * * * *`), 5 fields = minute precision. */
  cron: string;
  /** IANA time zone the expression is read in. Default `UTC`. */
  timezone?: string;
  topic: string;
  template: CronTemplate;
  /** After an outage: `fire-once` fires one catch-up message for the missed occurrences; `skip` fires none. Default `fire-once`. */
  misfirePolicy?: MisfirePolicy;
  /** Default true. */
  enabled?: boolean;
}

/** A stored job. */
export interface CronJob {
  id: string;
  cron: string;
  timezone: string;
  topic: string;
  template: CronTemplate;
  misfirePolicy: MisfirePolicy;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** Occurrences before this time are never fired (creation, update or resume time). */
  activeSince: number;
  /** Scheduled time of the last occurrence fired (0 = none). */
  lastFiredAt: number;
}

const JOB_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

function invalid(message: string): never {
  throw new DelayError(DelayErrorCode.CRON_INVALID, message);
}

function cronOf(expression: string, timezone: string): Cron {
  return new Cron(expression, { timezone, paused: true });
}

/** Validates a job definition (expression, time zone, id, template, policy); returns it with defaults filled. */
export function validateCronInput(input: CronJobInput): Required<CronJobInput> {
  if (typeof input !== 'object' || input === null) invalid('a cron job must be an object');
  if (typeof input.id !== 'string' || !JOB_ID.test(input.id)) invalid(`cron job id ${JSON.stringify(input.id)} must be 1-128 letters, digits, '_', '.', ':' or '-'`);
  if (typeof input.cron !== 'string' || input.cron.trim().length === 0) invalid(`cron job ${input.id}: the cron expression is required`);
  const timezone = input.timezone ?? 'UTC';
  if (typeof timezone !== 'string') invalid(`cron job ${input.id}: timezone must be a string`);
  try {
    Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    invalid(`cron job ${input.id}: unknown time zone ${JSON.stringify(timezone)} (use an IANA name such as Europe/Paris)`);
  }
  try {
    cronOf(input.cron, timezone).nextRun();
  } catch (error) {
    invalid(`cron job ${input.id}: invalid cron expression ${JSON.stringify(input.cron)}: ${(error as Error).message}`);
  }
  if (typeof input.topic !== 'string' || input.topic.length === 0) invalid(`cron job ${input.id}: topic is required`);
  const template = input.template;
  if (typeof template !== 'object' || template === null || typeof template.body !== 'string') invalid(`cron job ${input.id}: template.body must be a string`);
  if (template.keys !== undefined && (!Array.isArray(template.keys) || template.keys.some((key) => typeof key !== 'string'))) {
    invalid(`cron job ${input.id}: template.keys must be an array of strings`);
  }
  if (template.tags !== undefined && typeof template.tags !== 'string') invalid(`cron job ${input.id}: template.tags must be a string`);
  if (template.properties !== undefined && (typeof template.properties !== 'object' || template.properties === null)) {
    invalid(`cron job ${input.id}: template.properties must be an object of strings`);
  }
  const misfirePolicy = input.misfirePolicy ?? 'fire-once';
  if (misfirePolicy !== 'fire-once' && misfirePolicy !== 'skip') invalid(`cron job ${input.id}: misfirePolicy must be 'fire-once' or 'skip', got ${JSON.stringify(misfirePolicy)}`);
  const enabled = input.enabled ?? true;
  if (typeof enabled !== 'boolean') invalid(`cron job ${input.id}: enabled must be a boolean`);
  return { id: input.id, cron: input.cron, timezone, topic: input.topic, template, misfirePolicy, enabled };
}

/** The first occurrence strictly after `after` (ms), or undefined when the expression has no more. */
export function nextOccurrence(job: Pick<CronJob, 'cron' | 'timezone'>, after: number): number | undefined {
  const next = cronOf(job.cron, job.timezone).nextRun(new Date(after));
  return next ? next.getTime() : undefined;
}

/** The next `count` occurrences strictly after `after`. */
export function nextOccurrences(job: Pick<CronJob, 'cron' | 'timezone'>, count: number, after = Date.now()): number[] {
  return cronOf(job.cron, job.timezone).nextRuns(count, new Date(after)).map((date) => date.getTime());
}

/** 16-byte key of a job (hex), used as the msgId of its timer entries. */
export function cronJobKey(id: string): string {
  return createHash('sha256').update(`litemq-cron-job\0${id}`).digest().subarray(0, 16).toString('hex');
}

/** Deterministic message id of one occurrence (32 upper-case hex digits, like every LiteMQ id): same job and time, same id. */
export function cronMessageId(id: string, scheduledAt: number): string {
  return createHash('sha256').update(`litemq-cron\0${id}\0${scheduledAt}`).digest().subarray(0, 16).toString('hex').toUpperCase();
}
