import { describe, expect, it } from 'vitest';
import { RecordField, concatRecords, decodeRecords, readRecordSections } from '@litemq/protocol';
import { SMALL_SEGMENTS, openStore, record, tempDir, waitForQueue } from './helpers.js';

/** A record whose topic bytes are replaced after encoding (encodeRecord refuses bad names itself). */
function withTopicBytes(topic: string, replacement: string): Buffer {
  const buf = record(topic, 'x');
  const sections = readRecordSections(buf, 0);
  buf.write(replacement, sections.topicStart, 'latin1');
  return buf;
}

describe('append of records the caller already checked (checkedMaxBodyBytes)', () => {
  it('stores them exactly like a fully checked append', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const frame = () => concatRecords([record('ca', 'a0', 0), record('ca', 'a1', 1, { keys: ['k1', 'k2'], tags: 't' }), record('cb', 'b0', 0), record('ca', 'a2', 0)]);
    const checked = await store.append(frame(), SMALL_SEGMENTS.maxBodyBytes);
    const full = await store.append(frame());
    expect(checked.queueOffsets).toEqual([0, 0, 0, 1]);
    expect(full.queueOffsets).toEqual([2, 1, 1, 3]);
    await waitForQueue(store, 'ca', 0, 4);
    const read = await store.read('ca', 0, 0, { maxCount: 10 });
    expect(decodeRecords(read.records).map((m) => m.body.toString())).toEqual(['a0', 'a2', 'a0', 'a2']);
    const keyed = await store.read('ca', 1, 0, { maxCount: 10 });
    expect(decodeRecords(keyed.records).map((m) => [m.body.toString(), m.keys, m.tags])).toEqual([['a1', ['k1', 'k2'], 't'], ['a1', ['k1', 'k2'], 't']]);
    await store.close();
  });

  it('still rejects bad queue ids, new invalid topics and inconsistent sizes, writing nothing', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const max = SMALL_SEGMENTS.maxBodyBytes;
    await expect(store.append(concatRecords([record('ok', 'x'), record('ok', 'x', 70_000)]), max)).rejects.toMatchObject({ code: 'QUEUE_ID_INVALID' });
    await expect(store.append(concatRecords([record('ok', 'x'), withTopicBytes('ab', '..')]), max)).rejects.toBeDefined();
    await expect(store.append(concatRecords([record('ok', 'x'), withTopicBytes('okay', 'ok/x')]), max)).rejects.toBeDefined();
    const cut = concatRecords([record('ok', 'x'), record('ok', 'y')]);
    cut.writeUInt32BE(cut.readUInt32BE(RecordField.TOTAL_SIZE) + 1, RecordField.TOTAL_SIZE);
    await expect(store.append(cut, max)).rejects.toMatchObject({ code: 'RECORD_MALFORMED' });
    expect(store.topics()).toEqual([]);
    await store.close();
  });

  it('checks the whole structure itself when the caller checked against a larger body limit', async () => {
    const dir = await tempDir();
    const store = await openStore(dir, SMALL_SEGMENTS);
    const big = record('ok', Buffer.alloc(SMALL_SEGMENTS.maxBodyBytes + 1));
    await expect(store.append(big, SMALL_SEGMENTS.maxBodyBytes * 2)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect(store.topics()).toEqual([]);
    await store.close();
  });
});
