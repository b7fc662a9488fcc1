import { ProtocolError, ProtocolErrorCode } from './errors.js';

/** A host is stored as 16 address bytes (IPv4 mapped into IPv6) followed by a u16 port: 18 bytes. */
export const HOST_BYTES = 18;

function parseIPv4(address: string, out: Uint8Array, at: number): boolean {
  const parts = address.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return false;
    out[at + i] = Number(part);
  }
  return true;
}

function parseIPv6(address: string, out: Uint8Array, at: number): boolean {
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups: number[] = [];
  const parseGroup = (group: string): boolean => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
    groups.push(parseInt(group, 16));
    return true;
  };
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = (tail.length ? tail : head).at(-1);
  let v4: Uint8Array | undefined;
  if (last?.includes('.')) {
    v4 = new Uint8Array(4);
    if (!parseIPv4(last, v4, 0)) return false;
    (tail.length ? tail : head).pop();
  }
  const v4Groups = v4 ? 2 : 0;
  if (!head.every(parseGroup)) return false;
  const tailGroups: number[] = [];
  for (const group of tail) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
    tailGroups.push(parseInt(group, 16));
  }
  const missing = 8 - v4Groups - groups.length - tailGroups.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return false;
  for (let i = 0; i < missing; i++) groups.push(0);
  groups.push(...tailGroups);
  for (let i = 0; i < groups.length; i++) {
    out[at + i * 2] = groups[i]! >> 8;
    out[at + i * 2 + 1] = groups[i]! & 0xff;
  }
  if (v4) out.set(v4, at + 12);
  return true;
}

/** Writes `address:port` into 18 bytes at `offset`. Throws MESSAGE_INVALID for an unparsable address. */
export function writeHost(buf: Buffer, offset: number, address: string, port: number): void {
  buf.fill(0, offset, offset + 16);
  if (address.includes(':')) {
    if (!parseIPv6(address.replace(/^\[|\]$/g, ''), buf, offset)) {
      throw new ProtocolError(ProtocolErrorCode.MESSAGE_INVALID, `invalid IPv6 address ${JSON.stringify(address)}`);
    }
  } else {
    buf[offset + 10] = 0xff;
    buf[offset + 11] = 0xff;
    if (!parseIPv4(address, buf, offset + 12)) {
      throw new ProtocolError(ProtocolErrorCode.MESSAGE_INVALID, `invalid IPv4 address ${JSON.stringify(address)}`);
    }
  }
  buf.writeUInt16BE(port & 0xffff, offset + 16);
}

function isMappedIPv4(buf: Buffer, offset: number): boolean {
  for (let i = 0; i < 10; i++) if (buf[offset + i] !== 0) return false;
  return buf[offset + 10] === 0xff && buf[offset + 11] === 0xff;
}

/** Reads 18 host bytes as `a.b.c.d:port` or `[v6]:port`. */
export function readHost(buf: Buffer, offset: number): string {
  const port = buf.readUInt16BE(offset + 16);
  if (isMappedIPv4(buf, offset)) {
    return `${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}:${port}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2).toString(16));
  return `[${groups.join(':')}]:${port}`;
}

/** Splits `host:port` / `[v6]:port` into its parts. */
export function splitHostPort(hostPort: string): { address: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(hostPort);
  if (!match) throw new ProtocolError(ProtocolErrorCode.MESSAGE_INVALID, `invalid host:port ${JSON.stringify(hostPort)}`);
  return { address: match[1]!, port: Number(match[2]) };
}
