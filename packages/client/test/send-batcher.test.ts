import type { Frame, Message } from '@litemq/protocol';
import { RemoteError, ResponseCode, SEND_RESULT_ENTRY_BYTES, decodeRecord, encodeRecord, writeU64 } from '@litemq/protocol';
import { describe, expect, it } from 'vitest';
import type { PendingSend } from '../src/send-batcher.js';
import { SendBatcher } from '../src/send-batcher.js';
import type { SendResult } from '../src/send-result.js';

interface SentFrame {
  address: string;
  records: readonly Buffer[];
  answer(firstOffset: number): void;
  fail(error: Error): void;
}

function harness(options: { maxBatchBytes?: number; maxInFlightFrames?: number } = {}) {
  const frames: SentFrame[] = [];
  const failed: Array<{ items: PendingSend[]; error: unknown }> = [];
  const batcher = new SendBatcher({
    maxBatchBytes: options.maxBatchBytes ?? 1024 * 1024,
    maxInFlightFrames: options.maxInFlightFrames ?? 1,
    sendFrame: (address, records) =>
      new Promise<Frame>((resolve, reject) => {
        frames.push({
          address,
          records,
          answer: (firstOffset) => {
            const body = Buffer.alloc(records.length * SEND_RESULT_ENTRY_BYTES);
            records.forEach((_, i) => writeU64(body, i * SEND_RESULT_ENTRY_BYTES, firstOffset + i));
            resolve({ version: 1, flags: 1, code: ResponseCode.SUCCESS, opaque: 0, header: { count: records.length, brokerName: 'b1', storeTimestamp: 0 }, body });
          },
          fail: reject,
        });
      }),
    onFrameError: (items, error) => failed.push({ items, error }),
  });
  const send = (address: string, message: Message, queueId = 0) =>
    new Promise<SendResult>((resolve, reject) => {
      const record = encodeRecord(message, { queueId });
      batcher.add(address, { record, topic: message.topic, brokerName: 'b1', queueId, attempts: 1, shardingKey: undefined, settled: false, resolve, reject });
    });
  return { batcher, frames, failed, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('SendBatcher', () => {
  it('coalesces sends of one tick into one frame and maps the offsets back to each caller', async () => {
    const { frames, send } = harness();
    const results = Array.from({ length: 10 }, (_, i) => send('b1:1', { topic: 't', body: `m${i}` }, i % 3));
    await tick();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.records).toHaveLength(10);
    frames[0]!.answer(100);
    const settled = await Promise.all(results);
    expect(settled.map((r) => r.queueOffset)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(settled.map((r) => r.queueId)).toEqual(Array.from({ length: 10 }, (_, i) => i % 3));
    expect(new Set(settled.map((r) => r.msgId)).size).toBe(10);
    expect(settled[0]).toMatchObject({ topic: 't', brokerName: 'b1', status: 'SEND_OK' });
  });

  it('keeps collecting while a frame is in flight and sends the backlog as one frame', async () => {
    const { frames, send } = harness({ maxInFlightFrames: 1 });
    const first = send('b1:1', { topic: 't', body: 'first' });
    await tick();
    const more = Array.from({ length: 50 }, (_, i) => send('b1:1', { topic: 't', body: `m${i}` }));
    await tick();
    expect(frames).toHaveLength(1); // still waiting for the first response
    frames[0]!.answer(0);
    await first;
    await tick();
    expect(frames).toHaveLength(2);
    expect(frames[1]!.records).toHaveLength(50);
    frames[1]!.answer(1);
    expect((await Promise.all(more)).at(-1)!.queueOffset).toBe(50);
  });

  it('pipelines up to maxInFlightFrames per address and batches per address', async () => {
    const { frames, send } = harness({ maxInFlightFrames: 2 });
    const a = [send('a:1', { topic: 't', body: '1' })];
    await tick();
    a.push(send('a:1', { topic: 't', body: '2' }));
    await tick();
    a.push(send('a:1', { topic: 't', body: '3' }), send('a:1', { topic: 't', body: '4' }));
    const b = send('b:1', { topic: 't', body: 'other broker' });
    await tick();
    expect(frames.map((f) => [f.address, f.records.length])).toEqual([
      ['a:1', 1],
      ['a:1', 1],
      ['b:1', 1],
    ]);
    frames[0]!.answer(0);
    await tick();
    expect(frames.at(-1)!.records).toHaveLength(2);
    for (const f of frames.slice(1)) f.answer(0);
    await Promise.all([...a, b]);
  });

  it('caps a frame at maxBatchBytes but always sends an oversized single record', async () => {
    const { frames, send } = harness({ maxBatchBytes: 1000, maxInFlightFrames: 10 });
    const body = 'x'.repeat(300);
    const small = Array.from({ length: 7 }, () => send('a:1', { topic: 't', body }));
    const big = send('a:1', { topic: 't', body: 'y'.repeat(5000) });
    await tick();
    for (const f of frames) expect(f.records.length === 1 || f.records.reduce((n, r) => n + r.length, 0) <= 1000).toBe(true);
    expect(frames.reduce((n, f) => n + f.records.length, 0)).toBe(8);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    frames.forEach((f) => f.answer(0));
    await Promise.all([...small, big]);
  });

  it('hands every unsettled send of a failed frame to onFrameError', async () => {
    const { frames, failed, send } = harness();
    void send('a:1', { topic: 't', body: '1' });
    void send('a:1', { topic: 't', body: '2' });
    await tick();
    frames[0]!.fail(new RemoteError('SYSTEM_BUSY', ResponseCode.SYSTEM_BUSY, 'busy', true));
    await tick();
    expect(failed).toHaveLength(1);
    expect(failed[0]!.items).toHaveLength(2);
    expect(failed[0]!.error).toMatchObject({ code: 'SYSTEM_BUSY' });
  });

  it('puts each topic in frames of its own, so a frame refused for one topic fails no other topic', async () => {
    const { frames, failed, send } = harness({ maxInFlightFrames: 4 });
    const good = [send('a:1', { topic: 'orders', body: '1' }), send('a:1', { topic: 'orders', body: '2' })];
    void send('a:1', { topic: 'unknown', body: 'x' });
    await tick();
    expect(frames).toHaveLength(2);
    const topicsOf = (frame: SentFrame) => new Set(frame.records.map((record) => decodeRecord(record).topic));
    expect(frames.map((frame) => [...topicsOf(frame)])).toEqual([['orders'], ['unknown']]);
    frames[1]!.fail(new RemoteError('TOPIC_NOT_EXIST', ResponseCode.TOPIC_NOT_EXIST, 'no such topic', false));
    frames[0]!.answer(0);
    expect((await Promise.all(good)).map((result) => result.queueOffset)).toEqual([0, 1]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.items.map((item) => item.topic)).toEqual(['unknown']);
  });
});
