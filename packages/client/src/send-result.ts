import type { Frame } from '@litemq/protocol';
import { ResponseCode, SEND_RESULT_ENTRY_BYTES, readU64, remoteErrorOf } from '@litemq/protocol';
import { ClientError, ClientErrorCode } from './errors.js';

export type SendStatus = 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';

export interface SendResult {
  /** Client-generated unique id of the message (32 hex digits). */
  msgId: string;
  topic: string;
  queueId: number;
  /** Position in its queue; -1 when the broker stored the message but did not report offsets. */
  queueOffset: number;
  brokerName: string;
  /** SEND_OK, or stored with durability unconfirmed (flush timeout / no slave ack: not retried, to avoid duplicates). */
  status: SendStatus;
}

/** What a SEND response means for its records: their status and where their offsets are. */
export interface SendReply {
  status: SendStatus;
  brokerName: string;
  count: number;
  /** count × [u64 queueOffset][u64 commitLogOffset]; may be empty for non-SEND_OK statuses. */
  body: Buffer;
}

/** The status of a stored send, or undefined if the response is an error. */
export function sendStatusOf(code: number): SendStatus | undefined {
  switch (code) {
    case ResponseCode.SUCCESS:
      return 'SEND_OK';
    case ResponseCode.FLUSH_DISK_TIMEOUT:
      return 'FLUSH_DISK_TIMEOUT';
    case ResponseCode.SLAVE_NOT_AVAILABLE:
      return 'SLAVE_NOT_AVAILABLE';
    default:
      return undefined;
  }
}

/**
 * Interprets a SEND_MESSAGE/SEND_BATCH response carrying `expected` records. Throws the RemoteError of an
 * error response, or BAD_RESPONSE when a SEND_OK response does not hold one offset pair per record.
 */
export function parseSendReply(frame: Frame, expected: number, fallbackBrokerName: string): SendReply {
  const status = sendStatusOf(frame.code);
  if (status === undefined) throw remoteErrorOf(frame);
  const count = typeof frame.header.count === 'number' ? frame.header.count : 0;
  const brokerName = typeof frame.header.brokerName === 'string' ? frame.header.brokerName : fallbackBrokerName;
  const complete = count === expected && frame.body.length >= expected * SEND_RESULT_ENTRY_BYTES;
  if (!complete && status === 'SEND_OK') {
    throw new ClientError(
      ClientErrorCode.BAD_RESPONSE,
      `send response reports ${count} results (${frame.body.length} body bytes) for ${expected} records`,
    );
  }
  return { status, brokerName, count: complete ? expected : 0, body: complete ? frame.body : Buffer.alloc(0) };
}

/** Queue offset of the i-th record of a reply (-1 if the reply carries no offsets). */
export function queueOffsetAt(reply: SendReply, index: number): number {
  return index < reply.count ? readU64(reply.body, index * SEND_RESULT_ENTRY_BYTES) : -1;
}

/** Commit-log offset of the i-th record of a reply (-1 if the reply carries no offsets). */
export function commitLogOffsetAt(reply: SendReply, index: number): number {
  return index < reply.count ? readU64(reply.body, index * SEND_RESULT_ENTRY_BYTES + 8) : -1;
}
