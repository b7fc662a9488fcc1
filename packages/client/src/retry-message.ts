import { RecordMessage, SystemProperty, SystemTopicPrefix } from '@litemq/protocol';

/** Longest failure reason sent to the broker. */
const MAX_REASON_CHARS = 512;

export function isRetryTopic(topic: string): boolean {
  return topic.startsWith(SystemTopicPrefix.RETRY);
}

/**
 * A message delivered from `%RETRY%<group>`: reads as the original message (its first topic via `$retryTopic`;
 * id, body, keys, tags and properties are kept by the broker), with the stored `reconsumeTimes`.
 */
export class RetriedMessage extends RecordMessage {
  override get topic(): string {
    return this.systemProperties[SystemProperty.RETRY_TOPIC] ?? super.topic;
  }
}

/** What a handler's failure says, for `$failureReason`. */
export function failureReasonOf(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
  return text.slice(0, MAX_REASON_CHARS);
}
