import { randomBytes } from 'node:crypto';
import { ProtocolError, ProtocolErrorCode } from './errors.js';
import { MSG_ID_BYTES } from './record-layout.js';
import { putU16BE, putU32BE } from './u32.js';

/**
 * Client-generated unique message id: 4 random bytes fixed per process, 2 bytes of the pid, 6 bytes of
 * millisecond time and a 4-byte counter. Unique across processes (random prefix + pid) and restarts
 * (time), and cheap: no syscall or random draw per message.
 */
const processPrefix = randomBytes(4);
const pid = process.pid & 0xffff;
let counter = randomBytes(4).readUInt32BE(0);
const TWO_POW_32 = 0x1_0000_0000;
const MAX_ID_TIME = 2 ** 48;

export function writeMessageId(buf: Buffer, offset: number, now = Date.now()): void {
  if (!(offset >= 0 && offset + MSG_ID_BYTES <= buf.length)) throw new RangeError(`message id at ${offset} is out of range for ${buf.length} bytes`);
  if (!(Number.isInteger(now) && now >= 0 && now < MAX_ID_TIME)) throw new RangeError(`message id time ${now} is not a 48-bit millisecond time`);
  // Byte stores: a copy and three writeUInt calls cost more than the id itself (this runs once per message sent).
  buf[offset] = processPrefix[0]!;
  buf[offset + 1] = processPrefix[1]!;
  buf[offset + 2] = processPrefix[2]!;
  buf[offset + 3] = processPrefix[3]!;
  putU16BE(buf, offset + 4, pid);
  putU16BE(buf, offset + 6, Math.floor(now / TWO_POW_32)); // a 48-bit millisecond time
  putU32BE(buf, offset + 8, now >>> 0);
  counter = (counter + 1) >>> 0;
  putU32BE(buf, offset + 12, counter);
}

export function createMessageId(): string {
  const buf = Buffer.allocUnsafe(MSG_ID_BYTES);
  writeMessageId(buf, 0);
  return readMessageId(buf, 0);
}

const HEX_DIGITS = '0123456789ABCDEF';
const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, byte) => HEX_DIGITS[byte >>> 4]! + HEX_DIGITS[byte & 15]!);

/**
 * Hex of 6 id bytes, remembering the last bytes seen: ids of one producer share their first 6 bytes (prefix and
 * pid) and, within a millisecond, the next 6 (time), so most ids need only their 4 counter bytes formatted.
 */
class SixByteHex {
  private readonly last = Buffer.alloc(6);
  private text = '000000000000';

  format(buf: Buffer, at: number): string {
    const last = this.last;
    if (
      buf[at] !== last[0] || buf[at + 1] !== last[1] || buf[at + 2] !== last[2] ||
      buf[at + 3] !== last[3] || buf[at + 4] !== last[4] || buf[at + 5] !== last[5]
    ) {
      let text = '';
      for (let i = 0; i < 6; i++) {
        last[i] = buf[at + i]!;
        text += HEX_PAIRS[last[i]!]!;
      }
      this.text = text;
    }
    return this.text;
  }
}

const prefixHex = new SixByteHex();
const timeHex = new SixByteHex();

/** The 32 upper-case hex digits of the id at `buf[offset, offset + 16)`. */
export function readMessageId(buf: Buffer, offset: number): string {
  if (!(offset >= 0 && offset + MSG_ID_BYTES <= buf.length)) throw new RangeError(`message id at ${offset} is out of range for ${buf.length} bytes`);
  const pairs = HEX_PAIRS;
  return (
    prefixHex.format(buf, offset) +
    timeHex.format(buf, offset + 6) +
    (pairs[buf[offset + 12]!]! + pairs[buf[offset + 13]!]! + pairs[buf[offset + 14]!]! + pairs[buf[offset + 15]!]!)
  );
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
