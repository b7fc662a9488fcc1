import type { Frame } from '@litemq/protocol';
import { RecordField, readMessageId } from '@litemq/protocol';
import type { SendResult } from './send-result.js';
import { parseSendReply, queueOffsetAt } from './send-result.js';

/** One message waiting for its SEND response. The record is encoded once and reused across retries. */
export interface PendingSend {
  record: Buffer;
  readonly topic: string;
  brokerName: string;
  queueId: number;
  /** Sends attempted so far (the first is 1). */
  attempts: number;
  readonly shardingKey: string | undefined;
  /** Set once resolve/reject ran (or the caller aborted): later outcomes are ignored. */
  settled: boolean;
  resolve(result: SendResult): void;
  reject(error: unknown): void;
}

export interface SendBatcherOptions {
  /** Cap on the records of one frame (a single larger record still goes alone). */
  maxBatchBytes: number;
  /** Frames in flight per broker address (pipelining). */
  maxInFlightFrames: number;
  /** Sends one SEND_MESSAGE frame whose body is `records`, back to back. */
  sendFrame(address: string, records: readonly Buffer[]): Promise<Frame>;
  /** The frame carrying these unsettled sends failed as a whole: retry or reject them. */
  onFrameError(items: PendingSend[], error: unknown, address: string): void;
}

/** Sends of one topic to one broker address: every frame holds records of a single topic. */
interface FrameQueue {
  readonly address: string;
  readonly topic: string;
  items: PendingSend[];
  /** Record bytes of `items`. */
  bytes: number;
  inFlight: number;
  scheduled: boolean;
}

/**
 * A backlog larger than this is spread over the free frame slots instead of going out as one big frame: the
 * broker then stores the first frame while the client is still encoding and writing the next, instead of the
 * two sides taking turns (one frame of 1,000 records leaves each side idle half the time).
 */
const MIN_SPLIT_FRAME_BYTES = 32 * 1024;

/**
 * Coalesces concurrent sends per broker address and topic into SEND_MESSAGE frames: the first send to an idle
 * broker is flushed on the next tick (so every send made in the same tick joins it); while frames are in flight new
 * sends collect and go out together when a slot frees up. Each frame gets one timeout (in sendFrame); each caller
 * gets the offsets of its own record from the response body. A frame holds one topic only: the broker refuses a
 * frame as a whole, so a send to a topic it refuses (unknown, not writable) never fails other topics' sends.
 */
export class SendBatcher {
  /** By address, then topic. */
  private readonly queues = new Map<string, Map<string, FrameQueue>>();

  constructor(private readonly options: SendBatcherOptions) {}

  add(address: string, item: PendingSend): void {
    let byTopic = this.queues.get(address);
    if (!byTopic) this.queues.set(address, (byTopic = new Map()));
    let queue = byTopic.get(item.topic);
    if (!queue) {
      queue = { address, topic: item.topic, items: [], bytes: 0, inFlight: 0, scheduled: false };
      byTopic.set(item.topic, queue);
    }
    queue.items.push(item);
    queue.bytes += item.record.length;
    this.schedule(queue);
  }

  /** Sends waiting for a frame slot (not yet written). */
  get queued(): number {
    let n = 0;
    for (const byTopic of this.queues.values()) for (const queue of byTopic.values()) n += queue.items.length;
    return n;
  }

  /** Frames awaiting a response. */
  get framesInFlight(): number {
    let n = 0;
    for (const byTopic of this.queues.values()) for (const queue of byTopic.values()) n += queue.inFlight;
    return n;
  }

  private schedule(queue: FrameQueue): void {
    if (queue.scheduled || queue.inFlight >= this.options.maxInFlightFrames) return;
    queue.scheduled = true;
    process.nextTick(() => this.flush(queue));
  }

  /** Forgets an idle queue (no sends waiting, no frame in flight). */
  private forget(queue: FrameQueue): void {
    const byTopic = this.queues.get(queue.address);
    if (byTopic?.get(queue.topic) !== queue) return;
    byTopic.delete(queue.topic);
    if (byTopic.size === 0) this.queues.delete(queue.address);
  }

  private flush(queue: FrameQueue): void {
    const address = queue.address;
    queue.scheduled = false;
    const maxFrames = this.options.maxInFlightFrames;
    // Spread a large backlog evenly over the free slots (see MIN_SPLIT_FRAME_BYTES), within maxBatchBytes.
    const frameBytes = Math.min(this.options.maxBatchBytes, Math.max(MIN_SPLIT_FRAME_BYTES, Math.ceil(queue.bytes / Math.max(1, maxFrames - queue.inFlight))));
    const items = queue.items;
    let next = 0;
    while (queue.inFlight < maxFrames && next < items.length) {
      const batch: PendingSend[] = [];
      const records: Buffer[] = [];
      let bytes = 0;
      let taken = next;
      for (; taken < items.length; taken++) {
        const item = items[taken]!;
        const size = item.record.length;
        if (item.settled) {
          queue.bytes -= size; // aborted while waiting
          continue;
        }
        if (batch.length > 0 && bytes + size > frameBytes) break;
        bytes += size;
        batch.push(item);
        records.push(item.record);
      }
      queue.bytes -= bytes;
      next = taken;
      if (batch.length === 0) continue;
      queue.inFlight++;
      this.options.sendFrame(address, records).then(
        (frame) => this.complete(queue, batch, frame),
        (error: unknown) => this.fail(queue, batch, error),
      );
    }
    if (next > 0) queue.items = next === items.length ? [] : items.slice(next);
    if (queue.items.length === 0) queue.bytes = 0;
    if (queue.items.length === 0 && queue.inFlight === 0) this.forget(queue);
  }

  private complete(queue: FrameQueue, batch: PendingSend[], frame: Frame): void {
    let reply;
    try {
      reply = parseSendReply(frame, batch.length, batch[0]!.brokerName);
    } catch (error) {
      this.fail(queue, batch, error);
      return;
    }
    this.release(queue);
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      if (item.settled) continue;
      item.settled = true;
      item.resolve({
        msgId: readMessageId(item.record, RecordField.MSG_ID),
        topic: item.topic,
        queueId: item.queueId,
        queueOffset: queueOffsetAt(reply, i),
        brokerName: reply.brokerName,
        status: reply.status,
      });
    }
  }

  private fail(queue: FrameQueue, batch: PendingSend[], error: unknown): void {
    this.release(queue);
    const open = batch.filter((item) => !item.settled);
    if (open.length > 0) this.options.onFrameError(open, error, queue.address);
  }

  private release(queue: FrameQueue): void {
    queue.inFlight--;
    if (queue.items.length > 0) this.schedule(queue);
    else if (queue.inFlight === 0 && !queue.scheduled) this.forget(queue);
  }
}
