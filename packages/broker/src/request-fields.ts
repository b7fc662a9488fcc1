import type { FrameHeader } from '@litemq/protocol';
import { ProtocolError, ResponseCode, rpcFailure, validateConsumerGroupName, validateGroupName, validateTopicName } from '@litemq/protocol';

/** Readers of request header fields: anything missing or mistyped is INVALID_REQUEST naming the field. */

function invalid(message: string): never {
  throw rpcFailure(ResponseCode.INVALID_REQUEST, message);
}

export function stringField(header: FrameHeader, name: string): string {
  const value = header[name];
  if (typeof value !== 'string' || value.length === 0) invalid(`header field ${name} must be a non-empty string, got ${JSON.stringify(value ?? null)}`);
  return value;
}

export function optionalStringField(header: FrameHeader, name: string): string | undefined {
  const value = header[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(`header field ${name} must be a string`);
  return value;
}

export function intField(header: FrameHeader, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  return checkInt(header[name], name, min, max);
}

export function optionalIntField(header: FrameHeader, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = header[name];
  if (value === undefined || value === null) return fallback;
  return checkInt(value, name, min, max);
}

export function checkInt(value: unknown, name: string, min: number, max: number): number {
  const number = typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    invalid(`${name} must be an integer in [${min}, ${max}], got ${typeof value === 'bigint' ? value.toString() : JSON.stringify(value ?? null)}`);
  }
  return number;
}

export function arrayField(header: FrameHeader, name: string): readonly unknown[] {
  const value = header[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalid(`header field ${name} must be an array`);
  return value as readonly unknown[];
}

/** A topic name (system names allowed: consumers pull retry topics); a bad name is INVALID_REQUEST. */
export function topicField(header: FrameHeader, name = 'topic', allowSystem = true): string {
  const topic = header[name];
  try {
    validateTopicName(topic, { allowSystem });
  } catch (error) {
    if (error instanceof ProtocolError) invalid(error.message);
    throw error;
  }
  return topic;
}

/**
 * The group of a consuming request (heartbeat, pop, pull): a user name short enough for its `%RETRY%` and `%DLQ%`
 * topics; anything else is INVALID_REQUEST with errorCode GROUP_NAME_INVALID.
 */
export function consumerGroupField(header: FrameHeader, name = 'group'): string {
  const group = header[name];
  try {
    validateConsumerGroupName(group);
  } catch (error) {
    if (error instanceof ProtocolError) throw rpcFailure(ResponseCode.INVALID_REQUEST, error.message, error.code);
    throw error;
  }
  return group;
}

/** A producer group, or a group named by an admin or acknowledgement request (system names allowed). */
export function groupField(header: FrameHeader, name = 'group'): string {
  const group = header[name];
  try {
    validateGroupName(group, { allowSystem: true });
  } catch (error) {
    if (error instanceof ProtocolError) invalid(error.message);
    throw error;
  }
  return group;
}
