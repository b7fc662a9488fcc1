/** One request waiting to go out in a batched frame. */
interface Waiting<I, R> {
  item: I;
  resolve(result: R): void;
  reject(error: unknown): void;
}

interface AddressQueue<I, R> {
  waiting: Array<Waiting<I, R>>;
  inFlight: number;
  scheduled: boolean;
}

export interface TxnBatcherOptions<I, R> {
  /** Most items in one frame. */
  maxItems: number;
  /** Cap on the summed `sizeOf` of one frame's items (a single larger item still goes alone). */
  maxBytes: number;
  sizeOf(item: I): number;
  /** Frames in flight per broker address; items arriving meanwhile wait and go out together. */
  maxInFlightFrames: number;
  /**
   * Sends one frame for `items` and answers one result per item, in order: a value, or an Error for that item.
   * Rejecting fails every item of the frame.
   */
  sendFrame(address: string, items: readonly I[]): Promise<ReadonlyArray<R | Error>>;
}

/**
 * Coalesces concurrent transaction requests (SEND_HALF, END_TRANSACTION) per broker address into batched frames:
 * the first request to an idle address goes out on the next tick with every request made in the same tick; while
 * maxInFlightFrames frames are in flight, new requests collect and leave together as soon as one returns.
 */
export class TxnBatcher<I, R> {
  private readonly queues = new Map<string, AddressQueue<I, R>>();

  constructor(private readonly options: TxnBatcherOptions<I, R>) {}

  add(address: string, item: I): Promise<R> {
    let queue = this.queues.get(address);
    if (!queue) {
      queue = { waiting: [], inFlight: 0, scheduled: false };
      this.queues.set(address, queue);
    }
    const promise = new Promise<R>((resolve, reject) => queue.waiting.push({ item, resolve, reject }));
    this.schedule(address, queue);
    return promise;
  }

  private schedule(address: string, queue: AddressQueue<I, R>): void {
    if (queue.scheduled || queue.inFlight >= this.options.maxInFlightFrames || queue.waiting.length === 0) return;
    queue.scheduled = true;
    process.nextTick(() => {
      queue.scheduled = false;
      this.flush(address, queue);
    });
  }

  private flush(address: string, queue: AddressQueue<I, R>): void {
    while (queue.waiting.length > 0 && queue.inFlight < this.options.maxInFlightFrames) {
      // Spread a backlog over the free frame slots so the broker works on one frame while the next is built.
      const slots = this.options.maxInFlightFrames - queue.inFlight;
      const share = Math.ceil(queue.waiting.length / slots);
      const limit = Math.min(this.options.maxItems, share, queue.waiting.length);
      let take = 1;
      let bytes = this.options.sizeOf(queue.waiting[0]!.item);
      while (take < limit) {
        const size = this.options.sizeOf(queue.waiting[take]!.item);
        if (bytes + size > this.options.maxBytes) break;
        bytes += size;
        take++;
      }
      const batch = queue.waiting.splice(0, take);
      queue.inFlight++;
      let sent: Promise<ReadonlyArray<R | Error>>;
      try {
        sent = this.options.sendFrame(address, batch.map((w) => w.item));
      } catch (error) {
        sent = Promise.reject(error);
      }
      sent.then(
        (results) => {
          for (let i = 0; i < batch.length; i++) {
            const result = results[i];
            if (result instanceof Error) batch[i]!.reject(result);
            else if (result === undefined) batch[i]!.reject(new Error(`batched response carried ${results.length} results for ${batch.length} requests`));
            else batch[i]!.resolve(result);
          }
        },
        (error: unknown) => {
          for (const waiting of batch) waiting.reject(error);
        },
      ).finally(() => {
        queue.inFlight--;
        this.schedule(address, queue);
      });
    }
  }
}
