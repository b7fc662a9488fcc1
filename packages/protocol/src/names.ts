import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { MAX_NAME_LENGTH } from './limits.js';

/** User names: letters, digits, `-` and `_`. `%` is reserved for system names such as `%RETRY%group`. */
const USER_NAME = /^[A-Za-z0-9_-]+$/;
const SYSTEM_NAME = /^%[A-Z]+%[A-Za-z0-9_-]+$|^%[A-Z_]+%$/;

export const SystemTopicPrefix = {
  RETRY: '%RETRY%',
  DLQ: '%DLQ%',
} as const;

function nameProblem(name: unknown, allowSystem: boolean): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  if (name.length > MAX_NAME_LENGTH) return `is ${name.length} characters long; the maximum is ${MAX_NAME_LENGTH}`;
  if (USER_NAME.test(name)) return undefined;
  if (name.includes('%')) {
    if (!allowSystem) return 'uses `%`, which is reserved for system names';
    if (SYSTEM_NAME.test(name)) return undefined;
    return 'is not a valid system name';
  }
  return 'may only contain letters, digits, `-` and `_`';
}

/** True for names such as `%RETRY%group` that only the broker may write to. */
export function isSystemName(name: string): boolean {
  return name.startsWith('%');
}

/** Throws TOPIC_NAME_INVALID unless `name` is a valid topic name (system names only when allowed). */
export function validateTopicName(name: unknown, options: { allowSystem?: boolean } = {}): asserts name is string {
  const problem = nameProblem(name, options.allowSystem ?? false);
  if (problem) throw new ProtocolError(ProtocolErrorCode.TOPIC_NAME_INVALID, `topic name ${JSON.stringify(name)} ${problem}`);
}

/**
 * Longest consumer group name: the group's `%RETRY%<group>` and `%DLQ%<group>` topics must be valid topic names
 * (MAX_NAME_LENGTH) too.
 */
export const MAX_CONSUMER_GROUP_LENGTH = MAX_NAME_LENGTH - Math.max(SystemTopicPrefix.RETRY.length, SystemTopicPrefix.DLQ.length);

/**
 * Throws GROUP_NAME_INVALID unless `name` is a valid group name (system names only when allowed). Producer groups
 * and admin look-ups; consumers use validateConsumerGroupName.
 */
export function validateGroupName(name: unknown, options: { allowSystem?: boolean } = {}): asserts name is string {
  const problem = nameProblem(name, options.allowSystem ?? false);
  if (problem) throw new ProtocolError(ProtocolErrorCode.GROUP_NAME_INVALID, `group name ${JSON.stringify(name)} ${problem}`);
}

/**
 * Throws GROUP_NAME_INVALID unless `name` can name a consumer group: a user name (letters, digits, `-`, `_`; never
 * a system name) of at most MAX_CONSUMER_GROUP_LENGTH characters, so that its retry and dead-letter topics exist.
 */
export function validateConsumerGroupName(name: unknown): asserts name is string {
  validateGroupName(name);
  if (name.length > MAX_CONSUMER_GROUP_LENGTH) {
    throw new ProtocolError(
      ProtocolErrorCode.GROUP_NAME_INVALID,
      `consumer group name ${JSON.stringify(name)} is ${name.length} characters long; the maximum is ${MAX_CONSUMER_GROUP_LENGTH} (its retry topic ${SystemTopicPrefix.RETRY}<group> must fit in ${MAX_NAME_LENGTH})`,
    );
  }
}

export function retryTopicOf(group: string): string {
  return SystemTopicPrefix.RETRY + group;
}

export function deadLetterTopicOf(group: string): string {
  return SystemTopicPrefix.DLQ + group;
}
