import { ProtocolError, ProtocolErrorCode } from './errors.js';

/**
 * What a pop receipt handle refers to: the broker (replica set) that popped the message, and the broker's
 * invisibility checkpoint for it (a record in its log, by commit-log offset and id). Applications treat the handle
 * as an opaque string; clients read the broker name from it to route ACK_MESSAGE / CHANGE_INVISIBLE_TIME.
 */
export interface ReceiptHandle {
  brokerName: string;
  /** Commit-log offset of the checkpoint record. */
  checkpointOffset: number;
  /** Id of the checkpoint record (32 hex digits). */
  checkpointId: string;
  /** When the message becomes visible again unless acknowledged (ms since epoch). */
  invisibleUntil: number;
}

const VERSION = 'P1';
const MAX_HANDLE_LENGTH = 256;
const BROKER_NAME = /^[A-Za-z0-9_.-]+$/;
const HEX_ID = /^[0-9A-Fa-f]{32}$/;
const DIGITS = /^\d{1,16}$/;

/** `P1:<brokerName>:<checkpointOffset>:<checkpointId>:<invisibleUntil>`. */
export function encodeReceiptHandle(handle: ReceiptHandle): string {
  return `${VERSION}:${handle.brokerName}:${handle.checkpointOffset}:${handle.checkpointId.toUpperCase()}:${handle.invisibleUntil}`;
}

function invalid(value: unknown, why: string): never {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  throw new ProtocolError(ProtocolErrorCode.RECEIPT_HANDLE_INVALID, `${shown} is not a receipt handle: ${why}`);
}

/** Parses a receipt handle; throws ProtocolError RECEIPT_HANDLE_INVALID for anything else. */
export function parseReceiptHandle(value: unknown): ReceiptHandle {
  if (typeof value !== 'string' || value.length === 0) invalid(value, 'expected a non-empty string');
  if (value.length > MAX_HANDLE_LENGTH) invalid(value, `longer than ${MAX_HANDLE_LENGTH} characters`);
  const parts = value.split(':');
  if (parts.length !== 5 || parts[0] !== VERSION) invalid(value, `expected ${VERSION}:<broker>:<offset>:<id>:<time>`);
  const [, brokerName, offset, id, until] = parts as [string, string, string, string, string];
  if (!BROKER_NAME.test(brokerName)) invalid(value, 'bad broker name');
  if (!DIGITS.test(offset) || !DIGITS.test(until)) invalid(value, 'bad offset or time');
  if (!HEX_ID.test(id)) invalid(value, 'bad checkpoint id');
  const checkpointOffset = Number(offset);
  const invisibleUntil = Number(until);
  if (!Number.isSafeInteger(checkpointOffset) || !Number.isSafeInteger(invisibleUntil)) invalid(value, 'number out of range');
  return { brokerName, checkpointOffset, checkpointId: id.toUpperCase(), invisibleUntil };
}
