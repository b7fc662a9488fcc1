/**
 * Binary layout of a message record (big-endian). The same bytes travel producer → broker → log →
 * consumer; the store only patches the fields marked (store) in place.
 *
 *   off  size  field
 *   0    4     totalSize              whole record including this field
 *   4    4     recordCrc (store)      crc32 of every byte except the body and these first 8 bytes;
 *                                     it covers bodyCrc, which covers the body
 *   8    2     magic                  0x4C4D ("LM")
 *   10   1     version                1
 *   11   1     flags                  RecordFlag bits
 *   12   4     bodyCrc                crc32 of the body (set by the producer)
 *   16   16    msgId                  client-generated unique id
 *   32   4     queueId
 *   36   8     queueOffset (store)
 *   44   8     commitLogOffset (store)
 *   52   8     bornTimestamp          ms since epoch
 *   60   8     storeTimestamp (store)
 *   68   18    bornHost               16-byte address + u16 port
 *   86   18    storeHost (store)
 *   104  4     reconsumeTimes
 *   108  8     preparedTxOffset       commit-log offset of the half message a commit refers to
 *   116  4     bodyLength
 *   120  ...   body
 *        1+n   topic                  u8 length + ASCII
 *        1+n   tags                   u8 length + UTF-8
 *        2+n   keys                   u16 length + UTF-8 keys separated by 0x1F
 *        2+n   properties             u16 length + repeated [u8 nameLen][name][u16 valueLen][value]
 */
export const RecordField = {
  TOTAL_SIZE: 0,
  RECORD_CRC: 4,
  MAGIC: 8,
  VERSION: 10,
  FLAGS: 11,
  BODY_CRC: 12,
  MSG_ID: 16,
  QUEUE_ID: 32,
  QUEUE_OFFSET: 36,
  COMMIT_LOG_OFFSET: 44,
  BORN_TIMESTAMP: 52,
  STORE_TIMESTAMP: 60,
  BORN_HOST: 68,
  STORE_HOST: 86,
  RECONSUME_TIMES: 104,
  PREPARED_TX_OFFSET: 108,
  BODY_LENGTH: 116,
  BODY: 120,
} as const;

export const RECORD_HEADER_BYTES = RecordField.BODY;
export const RECORD_MAGIC = 0x4c4d;
export const RECORD_VERSION = 1;
export const MSG_ID_BYTES = 16;
/** Smallest valid record: header, empty body, and the four empty variable sections. */
export const MIN_RECORD_BYTES = RECORD_HEADER_BYTES + 1 + 1 + 2 + 2;
/** Largest the sections after the body can be: topic and tags (u8 lengths), keys and properties (u16 lengths). */
export const MAX_RECORD_SECTIONS_BYTES = 1 + 0xff + 1 + 0xff + 2 + 0xffff + 2 + 0xffff;
export const KEY_SEPARATOR = '\u001f';

/** Flag bits of a record. Bits 0-1 are the transaction type. */
export const RecordFlag = {
  TX_MASK: 0b11,
  TX_NONE: 0,
  TX_PREPARED: 1,
  TX_COMMIT: 2,
  TX_ROLLBACK: 3,
  /** The record carries `$delayMs` or `$deliverAt`: only flagged records have their properties read on send. */
  DELAYED: 0b100,
} as const;
