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

interface AddressQueue {
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
 * Coalesces concurrent sends per broker address into SEND_MESSAGE frames: the first send to an idle broker is
 * flushed on the next tick (so every send made in the same tick joins it); while frames are in flight new sends
 * collect and go out together when a slot frees up. Each frame gets one timeout (in sendFrame); each caller gets
 * the offsets of its own record from the response body.
 */
export class SendBatcher {
  private readonly queues = new Map<string, AddressQueue>();

  constructor(private readonly options: SendBatcherOptions) {}

  add(address: string, item: PendingSend): void {
    let queue = this.queues.get(address);
    if (!queue) {
      queue = { items: [], bytes: 0, inFlight: 0, scheduled: false };
      this.queues.set(address, queue);
    }
    queue.items.push(item);
    queue.bytes += item.record.length;
    this.schedule(address, queue);
  }

  /** Sends waiting for a frame slot (not yet written). */
  get queued(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.items.length;
    return n;
  }

  /** Frames awaiting a response. */
  get framesInFlight(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.inFlight;
    return n;
  }

  private schedule(address: string, queue: AddressQueue): void {
    if (queue.scheduled || queue.inFlight >= this.options.maxInFlightFrames) return;
    queue.scheduled = true;
    process.nextTick(() => this.flush(address, queue));
  }

  private flush(address: string, queue: AddressQueue): void {
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
        (frame) => this.complete(address, queue, batch, frame),
        (error: unknown) => this.fail(address, queue, batch, error),
      );
    }
    if (next > 0) queue.items = next === items.length ? [] : items.slice(next);
    if (queue.items.length === 0) queue.bytes = 0;
    if (queue.items.length === 0 && queue.inFlight === 0) this.queues.delete(address);
  }

  private complete(address: string, queue: AddressQueue, batch: PendingSend[], frame: Frame): void {
    let reply;
    try {
      reply = parseSendReply(frame, batch.length, batch[0]!.brokerName);
    } catch (error) {
      this.fail(address, queue, batch, error);
      return;
    }
    this.release(address, queue);
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

  private fail(address: string, queue: AddressQueue, batch: PendingSend[], error: unknown): void {
    this.release(address, queue);
    const open = batch.filter((item) => !item.settled);
    if (open.length > 0) this.options.onFrameError(open, error, address);
  }

  private release(address: string, queue: AddressQueue): void {
    queue.inFlight--;
    if (queue.items.length > 0) this.schedule(address, queue);
    else if (queue.inFlight === 0 && !queue.scheduled && this.queues.get(address) === queue) this.queues.delete(address);
  }
}
