import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CronFiring, CronJob, DueTimer } from '@litemq/delay';
import { CronScheduler, DelayError, DelayErrorCode, TimerFlag, TimerStore } from '@litemq/delay';
import type { CronJobInfo, RecordSections, TopicConfig } from '@litemq/protocol';
import {
  RecordField, RecordFlag, ResponseCode, SystemProperty, TopicPerm, decodeRecord, emptySections, messageIdBytes, readMessageId,
  readRecordProperties, readRecordSections, readU64, rpcFailure,
} from '@litemq/protocol';
import { encodeRecord } from '@litemq/protocol';
import type { AppendResult, MessageStore } from '@litemq/storage';
import type { BrokerContext } from './broker-context.js';
import { ContextServices } from './context-services.js';

/** System topic holding delayed records until they fire (queue 0). */
export const TIMER_TOPIC = '%TIMER%';
/** System property naming the cron job a message was fired by. */
export const CRON_JOB_PROPERTY = '$cronJob';
/** Set on the one catch-up message of a `fire-once` job after missed occurrences. */
export const CRON_CATCH_UP_PROPERTY = '$cronCatchUp';

const STRIP_ON_DELIVERY = new Set<string>([SystemProperty.ORIGIN_TOPIC, SystemProperty.ORIGIN_QUEUE_ID, SystemProperty.DELAY_MS, SystemProperty.DELIVER_AT]);

const DELIVER_AT_NAME = Buffer.from(SystemProperty.DELIVER_AT, 'latin1');
const DELAY_MS_NAME = Buffer.from(SystemProperty.DELAY_MS, 'latin1');
const STRIP_NAMES = [...STRIP_ON_DELIVERY].map((name) => Buffer.from(name, 'utf8'));
const TIMER_TOPIC_BYTES = Buffer.from(TIMER_TOPIC, 'latin1');
const ORIGIN_TOPIC_NAME = Buffer.from(SystemProperty.ORIGIN_TOPIC, 'latin1');
const ORIGIN_QUEUE_ID_NAME = Buffer.from(SystemProperty.ORIGIN_QUEUE_ID, 'latin1');

function nameIs(buf: Buffer, at: number, length: number, name: Buffer): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if (buf[at + i] !== name[i]) return false;
  return true;
}

/** The value of property `name` of the record whose sections are given (latin1 is enough for numbers), or undefined. */
function findProperty(buf: Buffer, sections: RecordSections, name: Buffer): string | undefined {
  const end = sections.propertiesStart + sections.propertiesLength;
  for (let at = sections.propertiesStart; at < end;) {
    const nameLength = buf[at]!;
    const valueLengthAt = at + 1 + nameLength;
    const valueLength = buf.readUInt16BE(valueLengthAt);
    if (nameIs(buf, at + 1, nameLength, name)) return buf.toString('latin1', valueLengthAt + 2, valueLengthAt + 2 + valueLength);
    at = valueLengthAt + 2 + valueLength;
  }
  return undefined;
}

function isStripped(buf: Buffer, at: number, length: number): boolean {
  for (const name of STRIP_NAMES) if (nameIs(buf, at, length, name)) return true;
  return false;
}

function writeProperty(out: Buffer, at: number, name: Buffer, value: string): number {
  out[at] = name.length;
  name.copy(out, at + 1);
  at += 1 + name.length;
  const length = out.write(value, at + 2, 'latin1');
  out.writeUInt16BE(length, at);
  return at + 2 + length;
}

/**
 * The `%TIMER%` form of the delayed record at `offset` (sections already read): header, body, tags and keys copied,
 * topic `%TIMER%`, queue 0, DELAYED cleared, properties kept in order except `$delayMs` / `$deliverAt` /
 * `$originTopic` / `$originQueueId`, then `$originTopic`, `$originQueueId`, `$deliverAt` appended. The store fills the
 * store fields and the record CRC at append time.
 */
function toTimerRecord(buf: Buffer, offset: number, sections: RecordSections, deliverAt: number): Buffer {
  const topic = buf.toString('latin1', sections.topicStart, sections.topicStart + sections.topicLength);
  const queueId = String(buf.readUInt32BE(offset + RecordField.QUEUE_ID));
  const deliverAtText = String(deliverAt);
  const propertiesEnd = sections.propertiesStart + sections.propertiesLength;
  let kept = 0;
  for (let at = sections.propertiesStart; at < propertiesEnd;) {
    const nameLength = buf[at]!;
    const valueLengthAt = at + 1 + nameLength;
    const next = valueLengthAt + 2 + buf.readUInt16BE(valueLengthAt);
    if (!isStripped(buf, at + 1, nameLength)) kept += next - at;
    at = next;
  }
  // Each property: [u8 nameLen][name][u16 valueLen][value]; the values are ASCII.
  const added = (3 + ORIGIN_TOPIC_NAME.length + topic.length) + (3 + ORIGIN_QUEUE_ID_NAME.length + queueId.length) + (3 + DELIVER_AT_NAME.length + deliverAtText.length);
  const propertiesLength = kept + added;
  if (propertiesLength > 0xffff) {
    throw rpcFailure(ResponseCode.MESSAGE_ILLEGAL, `the delayed record's properties would take ${propertiesLength} bytes in the timer topic; the maximum is 65535`, 'PROPERTIES_TOO_LARGE');
  }
  const headEnd = sections.topicStart - 1; // header + body
  const tagsAndKeysStart = sections.tagsStart - 1;
  const tagsAndKeysEnd = sections.propertiesStart - 2;
  const size = (headEnd - offset) + 1 + TIMER_TOPIC_BYTES.length + (tagsAndKeysEnd - tagsAndKeysStart) + 2 + propertiesLength;
  const out = Buffer.allocUnsafe(size);
  buf.copy(out, 0, offset, headEnd);
  out.writeUInt32BE(size, RecordField.TOTAL_SIZE);
  out.writeUInt32BE(0, RecordField.QUEUE_ID);
  out[RecordField.FLAGS] = buf[offset + RecordField.FLAGS]! & ~RecordFlag.DELAYED;
  let at = headEnd - offset;
  out[at++] = TIMER_TOPIC_BYTES.length;
  at += TIMER_TOPIC_BYTES.copy(out, at);
  at += buf.copy(out, at, tagsAndKeysStart, tagsAndKeysEnd);
  out.writeUInt16BE(propertiesLength, at);
  at += 2;
  for (let from = sections.propertiesStart; from < propertiesEnd;) {
    const nameLength = buf[from]!;
    const valueLengthAt = from + 1 + nameLength;
    const next = valueLengthAt + 2 + buf.readUInt16BE(valueLengthAt);
    if (!isStripped(buf, from + 1, nameLength)) at += buf.copy(out, at, from, next);
    from = next;
  }
  at = writeProperty(out, at, ORIGIN_TOPIC_NAME, topic);
  at = writeProperty(out, at, ORIGIN_QUEUE_ID_NAME, queueId);
  writeProperty(out, at, DELIVER_AT_NAME, deliverAtText);
  return out;
}

interface PendingTimer {
  index: number;
  deliverAt: number;
  msgId: Buffer;
}

/** The result of preparing a send frame: records to append and the timers to schedule once appended. */
export interface PreparedSend {
  body: Buffer;
  timers: PendingTimer[];
}

function days(ms: number): string {
  return `${ms} ms (${(ms / 86_400_000).toFixed(ms % 86_400_000 === 0 ? 0 : 2)} days)`;
}

/**
 * Delayed messages and cron jobs of one broker: the TimerStore (`<dataDir>/timer`), the CronScheduler
 * (`<dataDir>/cron`), the send-path transformation of delayed records into `%TIMER%` records, and
 * delivery of due records to their real topic.
 */
export class DelayService {
  private readonly sections = emptySections();
  private readonly logger: Logger;
  private closed = false;
  /** Counters for status and tests. */
  readonly counters = { scheduled: 0, delivered: 0, immediate: 0, missing: 0 };

  private constructor(private readonly context: BrokerContext, readonly timers: TimerStore, private cron: CronScheduler | undefined) {
    this.logger = context.logger.child({ component: 'delay' });
  }

  static async open(context: BrokerContext): Promise<DelayService> {
    const logger = context.logger.child({ component: 'timer' });
    const timers = TimerStore.open(join(context.options.dataDir, 'timer'), { ...context.options.timer, logger });
    const service = new DelayService(context, timers, undefined);
    await service.rescanTimerTopic();
    service.cron = await CronScheduler.open(join(context.options.dataDir, 'cron'), {
      timers,
      publish: (firings) => service.publishCron(firings),
      exists: async (msgId) => (await context.store.getMessageById(msgId)) !== undefined,
      logger: context.logger.child({ component: 'cron' }),
    });
    timers.onDue((due) => service.onDue(due));
    return service;
  }

  get scheduler(): CronScheduler {
    if (!this.cron) throw new DelayError(DelayErrorCode.CLOSED, 'the cron scheduler is not open');
    return this.cron;
  }

  /**
   * Recovery: `%TIMER%` records appended after the timer store's watermark whose timer entry did not reach
   * the timer log (a crash between the two writes) are scheduled again.
   */
  private async rescanTimerTopic(): Promise<void> {
    const range = this.context.store.queueOffsets(TIMER_TOPIC, 0);
    if (!range) return;
    let offset = Math.max(this.timers.watermark, range.minOffset);
    let rescheduled = 0;
    while (offset < range.maxOffset) {
      const result = await this.context.store.read(TIMER_TOPIC, 0, offset, { maxCount: 1_024 });
      for (let at = 0; at < result.records.length; at += this.sections.totalSize) {
        readRecordSections(result.records, at, result.records.length, this.sections);
        const commitLogOffset = readU64(result.records, at + RecordField.COMMIT_LOG_OFFSET);
        if (this.timers.recoveredOffsets.has(commitLogOffset)) continue;
        const { systemProperties } = readRecordProperties(result.records, this.sections);
        const deliverAt = Number(systemProperties[SystemProperty.DELIVER_AT]);
        const msgId = readMessageId(result.records, at + RecordField.MSG_ID);
        this.timers.schedule(Number.isFinite(deliverAt) ? Math.min(deliverAt, Date.now() + this.timers.options.maxDelayMs) : Date.now(), commitLogOffset, this.sections.totalSize, msgId);
        rescheduled++;
      }
      if (result.nextOffset <= offset) break;
      offset = result.nextOffset;
    }
    this.timers.watermark = range.maxOffset;
    if (rescheduled > 0) this.logger.warn({ rescheduled }, 'delayed records found after the timer checkpoint were scheduled again');
  }

  /**
   * Send path, for a frame with at least one DELAYED record: each record due later than now
   * is rewritten to `%TIMER%` (real topic and queue kept in `$originTopic` / `$originQueueId`, absolute
   * `$deliverAt`, same id); a negative delay or past time is delivered at once. Beyond the maximum delay
   * the whole frame is refused with MESSAGE_ILLEGAL naming the maximum.
   */
  prepareSend(body: Buffer): PreparedSend {
    const now = Date.now();
    const { maxDelayMs } = this.timers.options;
    const parts: Buffer[] = [];
    const timers: PendingTimer[] = [];
    let index = 0;
    for (let at = 0; at < body.length; index++) {
      readRecordSections(body, at, body.length, this.sections);
      const size = this.sections.totalSize;
      const record = body.subarray(at, at + size);
      at += size;
      if ((record[RecordField.FLAGS]! & RecordFlag.DELAYED) === 0) {
        parts.push(record);
        continue;
      }
      const sections = this.sections;
      const deliverAtValue = findProperty(body, sections, DELIVER_AT_NAME);
      const delayValue = deliverAtValue === undefined ? findProperty(body, sections, DELAY_MS_NAME) : undefined;
      let deliverAt = Number.NaN;
      if (deliverAtValue !== undefined) deliverAt = Number(deliverAtValue);
      else if (delayValue !== undefined) deliverAt = now + Number(delayValue);
      if (!Number.isFinite(deliverAt)) throw rpcFailure(ResponseCode.MESSAGE_ILLEGAL, `record ${index}: $delayMs / $deliverAt is not a number`, 'DELAY_INVALID');
      if (deliverAt - now > maxDelayMs) {
        throw rpcFailure(
          ResponseCode.MESSAGE_ILLEGAL,
          `record ${index}: delivery in ${deliverAt - now} ms exceeds the maximum delay of ${days(maxDelayMs)} on broker ${this.context.options.brokerName}`,
          DelayErrorCode.DELAY_TOO_LONG,
        );
      }
      // Due already (negative delay, past time): delivered at once. Anything later, even within one tick, is
      // scheduled, so that it is never delivered early.
      if (deliverAt <= now) {
        this.counters.immediate++;
        parts.push(record);
        continue;
      }
      // Rewritten byte-wise (no decode / encode, no object per property): same header, body, tags, keys and
      // properties, topic %TIMER%, queue 0, $delayMs/$deliverAt/$origin* replaced by the three timer properties.
      const msgId = Buffer.from(record.subarray(RecordField.MSG_ID, RecordField.MSG_ID + 16));
      parts.push(toTimerRecord(body, at - size, sections, Math.trunc(deliverAt)));
      timers.push({ index, deliverAt: Math.trunc(deliverAt), msgId });
    }
    return { body: parts.length === 1 ? parts[0]! : Buffer.concat(parts), timers };
  }

  /** Schedules the timers of a prepared send once its records are in the log (before the send is acknowledged). */
  afterAppend(prepared: PreparedSend, result: AppendResult): void {
    for (const timer of prepared.timers) {
      const commitLogOffset = result.commitLogOffsets[timer.index]!;
      this.timers.schedule(timer.deliverAt, commitLogOffset, 0, timer.msgId);
      this.timers.watermark = Math.max(this.timers.watermark, result.queueOffsets[timer.index]! + 1);
      this.counters.scheduled++;
    }
  }

  /**
   * Internal API: deliver `record` (an encoded record) to `topic`/`queueId` at `deliverAt`. The record is
   * stored durably under `%TIMER%` now and re-published with its id, keys, tags and properties (plus
   * `$scheduledAt`) at its time. For retry backoff and invisibility timeouts.
   */
  async deliverAt(record: Buffer, topic: string, queueId: number, deliverAt: number): Promise<{ msgId: string; commitLogOffset: number }> {
    const sections = emptySections();
    readRecordSections(record, 0, record.length, sections);
    const { properties, systemProperties } = readRecordProperties(record, sections);
    const message = decodeRecord(record);
    const system: Record<string, string> = {};
    for (const [name, value] of Object.entries(systemProperties)) if (!STRIP_ON_DELIVERY.has(name)) system[name] = value;
    system[SystemProperty.ORIGIN_TOPIC] = topic;
    system[SystemProperty.ORIGIN_QUEUE_ID] = String(queueId);
    system[SystemProperty.DELIVER_AT] = String(Math.trunc(deliverAt));
    const msgId = Buffer.from(record.subarray(RecordField.MSG_ID, RecordField.MSG_ID + 16));
    const timerRecord = encodeRecord(
      { topic: TIMER_TOPIC, body: message.body, keys: message.keys, tags: message.tags, properties },
      { allowSystemTopic: true, systemProperties: system, msgId, queueId: 0, bornTimestamp: message.bornTimestamp, reconsumeTimes: message.reconsumeTimes, flags: record[RecordField.FLAGS]! & ~RecordFlag.DELAYED },
    );
    const prepared: PreparedSend = { body: timerRecord, timers: [{ index: 0, deliverAt: Math.trunc(deliverAt), msgId }] };
    const result = await this.context.store.append(timerRecord);
    this.afterAppend(prepared, result);
    return { msgId: message.msgId, commitLogOffset: result.commitLogOffsets[0]! };
  }

  /** Cancels a scheduled message by id; throws when there is none pending. */
  async cancel(msgId: string): Promise<{ deliverAt: number }> {
    let stored: Buffer | undefined;
    try {
      messageIdBytes(msgId);
      stored = await this.context.store.getMessageById(msgId);
    } catch {
      throw rpcFailure(ResponseCode.INVALID_REQUEST, `${JSON.stringify(msgId)} is not a message id (32 hex digits)`, 'MESSAGE_ID_INVALID');
    }
    const message = stored ? decodeRecord(stored) : undefined;
    if (!message || message.topic !== TIMER_TOPIC) {
      throw rpcFailure(ResponseCode.INVALID_REQUEST, `no scheduled message with id ${msgId} on broker ${this.context.options.brokerName}`, 'SCHEDULED_NOT_FOUND');
    }
    const deliverAt = Number(message.systemProperties[SystemProperty.DELIVER_AT]);
    if (deliverAt <= Date.now()) {
      throw rpcFailure(ResponseCode.INVALID_REQUEST, `message ${msgId} was due at ${new Date(deliverAt).toISOString()} and has been delivered`, 'SCHEDULED_ALREADY_DELIVERED');
    }
    if (this.timers.isCancelled(msgId)) return { deliverAt };
    this.timers.cancel(msgId, deliverAt);
    return { deliverAt };
  }

  private async onDue(due: DueTimer[]): Promise<void> {
    const messages = due.filter((timer) => (timer.flags & TimerFlag.MESSAGE) !== 0);
    const crons = due.filter((timer) => (timer.flags & TimerFlag.CRON) !== 0);
    if (messages.length > 0) await this.deliverDue(messages);
    if (crons.length > 0 && this.cron) await this.cron.handleDue(crons);
  }

  /** Re-publishes due records to their real topic and queue, with their id and `$scheduledAt`. */
  private async deliverDue(due: DueTimer[]): Promise<void> {
    const store: MessageStore = this.context.store;
    const records = await Promise.all(due.map((timer) => store.readRecordAt(timer.commitLogOffset)));
    const out: Buffer[] = [];
    for (let i = 0; i < due.length; i++) {
      const record = records[i];
      const timer = due[i]!;
      if (!record) {
        this.counters.missing++;
        this.logger.error({ commitLogOffset: timer.commitLogOffset, msgId: timer.msgId }, 'a due delayed record is no longer in the log (retention?); dropped');
        continue;
      }
      const message = decodeRecord(record);
      const topic = message.systemProperties[SystemProperty.ORIGIN_TOPIC];
      if (message.topic !== TIMER_TOPIC || topic === undefined) {
        this.counters.missing++;
        this.logger.error({ commitLogOffset: timer.commitLogOffset }, 'a due timer points at a record that is not a delayed record; dropped');
        continue;
      }
      let queueId = Number(message.systemProperties[SystemProperty.ORIGIN_QUEUE_ID] ?? 0);
      const config = this.context.topics.get(topic);
      if (config && queueId >= config.writeQueueNums) queueId %= Math.max(1, config.writeQueueNums);
      const system: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.systemProperties)) if (!STRIP_ON_DELIVERY.has(name)) system[name] = value;
      system[SystemProperty.SCHEDULED_AT] = String(timer.deliverAt);
      const delivered = encodeRecord(
        { topic, body: message.body, keys: message.keys, tags: message.tags, properties: message.properties },
        {
          allowSystemTopic: true, systemProperties: system, msgId: Buffer.from(record.subarray(RecordField.MSG_ID, RecordField.MSG_ID + 16)), queueId,
          bornTimestamp: message.bornTimestamp, reconsumeTimes: message.reconsumeTimes, flags: message.flags & ~RecordFlag.DELAYED, maxBodyBytes: Number.MAX_SAFE_INTEGER,
        },
      );
      record.copy(delivered, RecordField.BORN_HOST, RecordField.BORN_HOST, RecordField.BORN_HOST + 18);
      out.push(delivered);
    }
    if (out.length === 0) return;
    await store.append(out.length === 1 ? out[0]! : Buffer.concat(out));
    this.counters.delivered += out.length;
  }

  private async ensureTopic(topic: string): Promise<TopicConfig> {
    const existing = this.context.topics.get(topic);
    if (existing) return existing;
    const { defaultQueueNums } = this.context.options;
    return this.context.topics.put({ topic, readQueueNums: defaultQueueNums, writeQueueNums: defaultQueueNums, perm: TopicPerm.READ_WRITE });
  }

  /** Publishes cron firings: one message per firing, deterministic id, `$scheduledAt` and `$cronJob`. */
  private async publishCron(firings: CronFiring[]): Promise<void> {
    const out: Buffer[] = [];
    for (const firing of firings) {
      const { job } = firing;
      const config = await this.ensureTopic(job.topic);
      const queueId = createHash('sha1').update(job.id).digest().readUInt32BE(0) % Math.max(1, config.writeQueueNums);
      out.push(encodeRecord(
        { topic: job.topic, body: job.template.body, keys: job.template.keys, tags: job.template.tags, properties: job.template.properties },
        {
          msgId: messageIdBytes(firing.msgId), queueId,
          systemProperties: {
            [SystemProperty.SCHEDULED_AT]: String(firing.scheduledAt), [CRON_JOB_PROPERTY]: job.id, ...(firing.catchUp ? { [CRON_CATCH_UP_PROPERTY]: 'true' } : {}),
          },
        },
      ));
    }
    if (out.length > 0) await this.context.store.append(Buffer.concat(out));
  }

  /** A job in wire form. */
  jobInfo(job: CronJob, nextAt?: number): CronJobInfo {
    const info: CronJobInfo = {
      id: job.id, cron: job.cron, timezone: job.timezone, topic: job.topic, template: job.template, misfirePolicy: job.misfirePolicy, enabled: job.enabled,
      createdAt: job.createdAt, updatedAt: job.updatedAt, lastFiredAt: job.lastFiredAt, brokerName: this.context.options.brokerName,
    };
    if (nextAt !== undefined) info.nextAt = nextAt;
    return info;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.timers.close();
    this.cron?.close();
  }
}

const services = new ContextServices<DelayService>('delayed messages are not available on this broker');

/** Opens the broker's DelayService (timer store, cron scheduler) and registers it for the processors. */
export async function openDelay(context: BrokerContext): Promise<DelayService> {
  return services.register(context, await DelayService.open(context));
}

export function delayOf(context: BrokerContext): DelayService {
  return services.of(context);
}
