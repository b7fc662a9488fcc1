import type { ReceivedMessage } from '@litemq/protocol';
import { RecordMessage, SystemProperty, SystemTopicPrefix } from '@litemq/protocol';

/** A message received by a SimpleConsumer: the message, plus what ack() and changeInvisibleDuration() need. */
export interface ReceivedPopMessage extends ReceivedMessage {
  /** Opaque; identifies this delivery. changeInvisibleDuration(message, ms) replaces it with the new one. */
  receiptHandle: string;
  /** When the message becomes visible to the group again unless acknowledged (ms since epoch). */
  invisibleUntil: number;
  /** 1 on the first delivery, then 2, 3...: reconsumeTimes + 1. */
  readonly deliveryAttempt: number;
  /** The broker (replica set) that delivered it; ack() goes there. */
  readonly brokerName: string;
}

/**
 * A popped record, decoded lazily. A redelivery (stored on `%RETRY%<group>`) reads as the original message: its
 * first topic, id, body, keys, tags and properties, with its reconsumeTimes.
 */
export class PopMessage extends RecordMessage implements ReceivedPopMessage {
  constructor(
    buf: Buffer,
    start: number,
    end: number,
    public receiptHandle: string,
    public invisibleUntil: number,
    readonly brokerName: string,
  ) {
    super(buf, start, end);
  }

  override get topic(): string {
    const stored = super.topic;
    return stored.startsWith(SystemTopicPrefix.RETRY) ? (this.systemProperties[SystemProperty.RETRY_TOPIC] ?? stored) : stored;
  }

  get deliveryAttempt(): number {
    return this.reconsumeTimes + 1;
  }

  override toJSON(): ReceivedPopMessage {
    const { receiptHandle, invisibleUntil, deliveryAttempt, brokerName } = this;
    return { ...super.toJSON(), receiptHandle, invisibleUntil, deliveryAttempt, brokerName };
  }
}
