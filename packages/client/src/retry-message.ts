import type { ReceivedMessage } from '@litemq/protocol';
import { RecordMessage, SystemProperty, SystemTopicPrefix } from '@litemq/protocol';
import type { ClientLogger } from './logger.js';

/** Longest failure reason sent to the broker. */
const MAX_REASON_CHARS = 512;
/** Highest retry limit a consumer may ask for (the `maxReconsumeTimes` option is checked against it too). */
export const MAX_RECONSUME_TIMES_LIMIT = 1000;

/** The consumer's `maxReconsumeTimes` option: a number, or a function giving a per-message value (`undefined`: the default). */
export type MaxReconsumeTimesOption = number | ((message: ReceivedMessage) => number | undefined);

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

/**
 * What a handler's failure says, for `$failureReason` (at most 512 characters). Never throws: it runs on the failure
 * path, where an exception would leave the message's queue blocked. A handler may throw anything, including values
 * JSON cannot serialize (a circular object, a BigInt) or whose conversion to a string throws.
 */
export function failureReasonOf(error: unknown): string {
  const attempts: Array<() => string | undefined> = [
    () => (error instanceof Error ? `${error.name}: ${error.message}` : typeof error === 'string' ? error : JSON.stringify(error)),
    () => String(error),
    () => Object.prototype.toString.call(error),
  ];
  for (const attempt of attempts) {
    try {
      const text = attempt();
      if (typeof text === 'string') return text.slice(0, MAX_REASON_CHARS);
    } catch {
      // try the next, cruder description
    }
  }
  return 'unknown error';
}

function validLimit(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_RECONSUME_TIMES_LIMIT ? value : undefined;
}

/**
 * The retry limit of a failed message: its own `$maxReconsumeTimes` system property (with `ownFirst`), else the
 * `maxReconsumeTimes` option, else undefined (the caller's default). Never throws, since it runs on the failure path: a
 * property that cannot be decoded, or a function that throws or answers something other than an integer in
 * [0, 1000], is logged and skipped.
 */
export function retryLimitOf(
  message: ReceivedMessage,
  option: MaxReconsumeTimesOption | undefined,
  context: { ownFirst: boolean; logger: ClientLogger; where: object },
): number | undefined {
  if (context.ownFirst) {
    try {
      const own = Number(message.systemProperties[SystemProperty.MAX_RECONSUME_TIMES]);
      if (Number.isInteger(own) && own >= 0) return own;
    } catch (error) {
      context.logger.warn({ ...context.where, err: error }, 'cannot read the $maxReconsumeTimes of a failed message; ignoring it');
    }
  }
  if (typeof option !== 'function') return option;
  let value: unknown;
  try {
    value = option(message);
  } catch (error) {
    context.logger.warn({ ...context.where, err: error }, 'the maxReconsumeTimes function threw; using the default retry limit');
    return undefined;
  }
  const limit = validLimit(value);
  if (limit === undefined && value !== undefined) {
    context.logger.warn({ ...context.where, answered: typeof value === 'number' ? value : typeof value }, `the maxReconsumeTimes function answered neither undefined nor an integer in [0, ${MAX_RECONSUME_TIMES_LIMIT}]; using the default retry limit`);
  }
  return limit;
}
