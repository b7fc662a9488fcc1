import { readHost } from './host.js';
import type { ReceivedMessage } from './message.js';
import { readMessageId } from './message-id.js';
import { readRecordKeys, readRecordProperties, readRecordTopic } from './record-decode.js';
import { RecordField } from './record-layout.js';
import type { RecordSections } from './record-sections.js';
import { emptySections, readRecordSections } from './record-sections.js';
import { readU64 } from './u64.js';

/**
 * A received message that decodes its fields on first access. Consumers that only look at the body (the
 * common case) never pay for hex ids, host strings or property maps. Same shape as `decodeRecord`'s result.
 */
export class RecordMessage implements ReceivedMessage {
  private readonly sections: RecordSections;
  private decodedProperties: { properties: Record<string, string>; systemProperties: Record<string, string> } | undefined;
  readonly body: Buffer;

  constructor(
    private readonly buf: Buffer,
    private readonly start: number,
    end: number,
  ) {
    this.sections = readRecordSections(buf, start, end, emptySections(), Number.MAX_SAFE_INTEGER);
    this.body = buf.subarray(this.sections.bodyStart, this.sections.bodyStart + this.sections.bodyLength);
  }

  get msgId(): string {
    return readMessageId(this.buf, this.start + RecordField.MSG_ID);
  }
  get topic(): string {
    return readRecordTopic(this.buf, this.sections);
  }
  get queueId(): number {
    return this.buf.readUInt32BE(this.start + RecordField.QUEUE_ID);
  }
  get queueOffset(): number {
    return readU64(this.buf, this.start + RecordField.QUEUE_OFFSET);
  }
  get commitLogOffset(): number {
    return readU64(this.buf, this.start + RecordField.COMMIT_LOG_OFFSET);
  }
  get tags(): string | undefined {
    const { tagsStart, tagsLength } = this.sections;
    return tagsLength ? this.buf.toString('utf8', tagsStart, tagsStart + tagsLength) : undefined;
  }
  get keys(): string[] {
    return readRecordKeys(this.buf, this.sections);
  }
  get properties(): Record<string, string> {
    this.decodedProperties ??= readRecordProperties(this.buf, this.sections);
    return this.decodedProperties.properties;
  }
  get systemProperties(): Record<string, string> {
    this.decodedProperties ??= readRecordProperties(this.buf, this.sections);
    return this.decodedProperties.systemProperties;
  }
  get flags(): number {
    return this.buf[this.start + RecordField.FLAGS]!;
  }
  get bornTimestamp(): number {
    return readU64(this.buf, this.start + RecordField.BORN_TIMESTAMP);
  }
  get storeTimestamp(): number {
    return readU64(this.buf, this.start + RecordField.STORE_TIMESTAMP);
  }
  get bornHost(): string {
    return readHost(this.buf, this.start + RecordField.BORN_HOST);
  }
  get storeHost(): string {
    return readHost(this.buf, this.start + RecordField.STORE_HOST);
  }
  private reconsumeOverride: number | undefined;
  /** Stored value, unless a consumer counts in-process redeliveries on top of it. */
  get reconsumeTimes(): number {
    return this.reconsumeOverride ?? this.buf.readUInt32BE(this.start + RecordField.RECONSUME_TIMES);
  }
  set reconsumeTimes(value: number) {
    this.reconsumeOverride = value;
  }
  get preparedTxOffset(): number {
    return readU64(this.buf, this.start + RecordField.PREPARED_TX_OFFSET);
  }

  /** Every field as a plain object (for logging or JSON). */
  toJSON(): ReceivedMessage {
    const { msgId, topic, queueId, queueOffset, commitLogOffset, body, tags, keys, properties, systemProperties, flags } = this;
    const { bornTimestamp, storeTimestamp, bornHost, storeHost, reconsumeTimes, preparedTxOffset } = this;
    return { msgId, topic, queueId, queueOffset, commitLogOffset, body, tags, keys, properties, systemProperties, flags, bornTimestamp, storeTimestamp, bornHost, storeHost, reconsumeTimes, preparedTxOffset };
  }
}
