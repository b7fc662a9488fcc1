import { readU64, writeU64 } from '@litemq/protocol';

/**
 * Timer log entry (56 bytes, big-endian), chained per wheel slot through `prevPos`:
 *
 *   0   8  prevPos          log position of the previous entry of the same slot (0 = none)
 *   8   8  deliverAt        ms since epoch: the timer fires at this exact time, never before
 *   16  8  slotTick         the wheel tick (deliverAt / precision, or later when rolled) this entry is linked to
 *   24  8  commitLogOffset  where the payload record is (0 for cron entries)
 *   32  4  size             payload record size
 *   36  2  flags            TimerFlag bits
 *   38  2  magic            0x544D ("TM")
 *   40  16 msgId            message id (cron: the job key)
 *
 * Position 0 of the log holds a header entry so that 0 can mean "no entry".
 */
export const ENTRY_BYTES = 56;
export const ENTRY_MAGIC = 0x544d;

/**
 * Wheel slot (32 bytes): [tick+1 u64][firstPos u64][lastPos u64][count u32][reserved u32]. A slot whose
 * stored tick differs from the tick looked up is empty (stale from an earlier turn of the wheel).
 */
export const SLOT_BYTES = 32;

export const TimerFlag = {
  /** A scheduled message record. */
  MESSAGE: 1,
  /** A cron job's next occurrence. */
  CRON: 2,
} as const;

export interface TimerEntry {
  pos: number;
  prevPos: number;
  deliverAt: number;
  slotTick: number;
  commitLogOffset: number;
  size: number;
  flags: number;
  msgId: Buffer;
}

export function writeEntry(buf: Buffer, at: number, entry: Omit<TimerEntry, 'pos'>): void {
  writeU64(buf, at, entry.prevPos);
  writeU64(buf, at + 8, entry.deliverAt);
  writeU64(buf, at + 16, entry.slotTick);
  writeU64(buf, at + 24, entry.commitLogOffset);
  buf.writeUInt32BE(entry.size, at + 32);
  buf.writeUInt16BE(entry.flags, at + 36);
  buf.writeUInt16BE(ENTRY_MAGIC, at + 38);
  entry.msgId.copy(buf, at + 40, 0, 16);
}

/** Reads the entry at `at` of `buf`; undefined when the bytes are not a valid entry (torn or zero). */
export function readEntry(buf: Buffer, at: number, pos: number): TimerEntry | undefined {
  if (buf.readUInt16BE(at + 38) !== ENTRY_MAGIC) return undefined;
  const deliverAt = readU64(buf, at + 8);
  if (deliverAt <= 0) return undefined;
  return {
    pos,
    prevPos: readU64(buf, at),
    deliverAt,
    slotTick: readU64(buf, at + 16),
    commitLogOffset: readU64(buf, at + 24),
    size: buf.readUInt32BE(at + 32),
    flags: buf.readUInt16BE(at + 36),
    msgId: Buffer.from(buf.subarray(at + 40, at + 56)),
  };
}
