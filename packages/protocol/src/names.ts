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

/** Throws GROUP_NAME_INVALID unless `name` is a valid producer or consumer group name. */
export function validateGroupName(name: unknown, options: { allowSystem?: boolean } = {}): asserts name is string {
  const problem = nameProblem(name, options.allowSystem ?? false);
  if (problem) throw new ProtocolError(ProtocolErrorCode.GROUP_NAME_INVALID, `group name ${JSON.stringify(name)} ${problem}`);
}

export function retryTopicOf(group: string): string {
  return SystemTopicPrefix.RETRY + group;
}

export function deadLetterTopicOf(group: string): string {
  return SystemTopicPrefix.DLQ + group;
}
