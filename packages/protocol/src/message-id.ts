import { randomBytes } from 'node:crypto';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { MSG_ID_BYTES } from './record-layout.js';

/**
 * Client-generated unique message id: 4 random bytes fixed per process, 2 bytes of the pid, 6 bytes of
 * millisecond time and a 4-byte counter. Unique across processes (random prefix + pid) and restarts
 * (time), and cheap: no syscall or random draw per message.
 */
const processPrefix = randomBytes(4);
let counter = randomBytes(4).readUInt32BE(0);

export function writeMessageId(buf: Buffer, offset: number, now = Date.now()): void {
  processPrefix.copy(buf, offset);
  buf.writeUInt16BE(process.pid & 0xffff, offset + 4);
  buf.writeUIntBE(now, offset + 6, 6);
  counter = (counter + 1) >>> 0;
  buf.writeUInt32BE(counter, offset + 12);
}

export function createMessageId(): string {
  const buf = Buffer.allocUnsafe(MSG_ID_BYTES);
  writeMessageId(buf, 0);
  return buf.toString('hex').toUpperCase();
}

export function readMessageId(buf: Buffer, offset: number): string {
  return buf.toString('hex', offset, offset + MSG_ID_BYTES).toUpperCase();
}

const MSG_ID_PATTERN = /^[0-9A-Fa-f]{32}$/;

export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && MSG_ID_PATTERN.test(value);
}

/** Parses a 32-hex-digit id into its 16 bytes. Throws MESSAGE_ID_INVALID otherwise. */
export function messageIdBytes(id: string): Buffer {
  if (!isMessageId(id)) throw new ProtocolError(ProtocolErrorCode.MESSAGE_ID_INVALID, `invalid message id ${JSON.stringify(id)}`);
  return Buffer.from(id, 'hex');
}

/** Time encoded in a message id, in ms since epoch: lets tools bound a search by time. */
export function messageIdTimestamp(id: string): number {
  return messageIdBytes(id).readUIntBE(6, 6);
}
