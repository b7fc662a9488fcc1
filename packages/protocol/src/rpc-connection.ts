import type { Socket } from 'node:net';
import { RemotingError, RemotingErrorCode } from './errors.js';
import type { Frame, FrameBodyInput, FrameHeader } from './frame.js';
import { FrameFlag, isResponseFrame } from './frame.js';
import { FrameDecoder } from './frame-decoder.js';
import { encodeFrameParts } from './frame-encode.js';

/** Minimal structured logger (pino-compatible) so protocol does not depend on a logging library. */
export interface RpcLogger {
  warn(object: object, message: string): void;
  debug(object: object, message: string): void;
}

export const silentLogger: RpcLogger = { warn: () => undefined, debug: () => undefined };

export interface RequestOptions {
  /** Default 3000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RpcConnectionOptions {
  maxFrameBytes?: number;
  /** Stop reading from the peer while more than this many bytes wait to be written to it. Default 4 MiB. */
  writeHighWaterBytes?: number;
  /** Most outgoing requests awaiting responses. Default 65536. */
  maxPendingRequests?: number;
  /** Incoming requests and oneways (responses are matched to `request` calls instead). */
  onRequest?: (frame: Frame, connection: RpcConnection) => void;
  onClose?: (connection: RpcConnection, error: Error | undefined) => void;
  logger?: RpcLogger;
}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One TCP connection carrying many concurrent requests, matched to responses by `opaque`. Writes made
 * in the same tick are corked into one syscall. When the peer reads slower than we write, we stop
 * reading from it, so a slow peer cannot make this process buffer without bound.
 */
export class RpcConnection {
  readonly remoteAddress: string;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextOpaque = 1;
  private corked = false;
  private readPaused = false;
  private closedWith: Error | undefined;
  closed = false;
  private readonly highWater: number;
  private readonly maxPending: number;
  private readonly logger: RpcLogger;

  constructor(
    readonly socket: Socket,
    private readonly options: RpcConnectionOptions = {},
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes });
    this.highWater = options.writeHighWaterBytes ?? 4 * 1024 * 1024;
    this.maxPending = options.maxPendingRequests ?? 65_536;
    this.logger = options.logger ?? silentLogger;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.resumeReading());
    socket.on('error', (error) => this.close(error));
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      // A malformed or oversize frame: the stream can no longer be trusted, so the connection goes.
      this.logger.warn({ peer: this.remoteAddress, err: error }, 'closing connection after a bad frame');
      this.close(error as Error);
      return;
    }
    for (const frame of frames) {
      if (isResponseFrame(frame)) this.settle(frame);
      else this.options.onRequest?.(frame, this);
    }
  }

  private settle(frame: Frame): void {
    const pending = this.pending.get(frame.opaque);
    if (!pending) return; // answered after its timeout: nobody is waiting any more
    this.pending.delete(frame.opaque);
    this.release(pending);
    pending.resolve(frame);
  }

  private release(pending: Pending): void {
    clearTimeout(pending.timer);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
  }

  private write(flags: number, code: number, opaque: number, header: FrameHeader | undefined, body: FrameBodyInput | undefined): void {
    if (this.closed) return;
    const [head, bodyParts] = encodeFrameParts({ flags, code, opaque, header, body });
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(head);
    for (const part of bodyParts) if (part.length > 0) this.socket.write(part);
    if (!this.readPaused && this.socket.writableLength > this.highWater) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  private resumeReading(): void {
    if (this.readPaused && !this.closed) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  /** Sends a request and resolves with the response frame, whatever its code. */
  request(code: number, header?: FrameHeader, body?: FrameBodyInput, options: RequestOptions = {}): Promise<Frame> {
    if (this.closed) {
      return Promise.reject(new RemotingError(RemotingErrorCode.CONNECTION_CLOSED, `connection to ${this.remoteAddress} is closed`, { cause: this.closedWith }));
    }
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new RemotingError(RemotingErrorCode.TOO_MANY_IN_FLIGHT, `${this.pending.size} requests already in flight to ${this.remoteAddress}`));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new RemotingError(RemotingErrorCode.REQUEST_ABORTED, 'request aborted', { cause: signal.reason }));
    const opaque = this.nextOpaque;
    this.nextOpaque = this.nextOpaque >= 0xffff_fffe ? 1 : this.nextOpaque + 1;
    const timeoutMs = options.timeoutMs ?? 3000;
    return new Promise<Frame>((resolve, reject) => {
      const fail = (error: Error) => {
        const pending = this.pending.get(opaque);
        if (!pending) return;
        this.pending.delete(opaque);
        this.release(pending);
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new RemotingError(RemotingErrorCode.RPC_TIMEOUT, `no response from ${this.remoteAddress} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = signal ? () => fail(new RemotingError(RemotingErrorCode.REQUEST_ABORTED, 'request aborted', { cause: signal.reason })) : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(opaque, { resolve, reject, timer, signal, onAbort });
      this.write(0, code, opaque, header, body);
    });
  }

  /** Sends a request that gets no response. */
  oneway(code: number, header?: FrameHeader, body?: FrameBodyInput): void {
    this.write(FrameFlag.ONEWAY, code, 0, header, body);
  }

  /** Answers `request` (ignored for oneway requests, which expect no answer). */
  respond(request: Frame, code: number, header?: FrameHeader, body?: FrameBodyInput): void {
    if ((request.flags & FrameFlag.ONEWAY) !== 0) return;
    this.write(FrameFlag.RESPONSE, code, request.opaque, header, body);
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Bytes queued for the peer but not yet sent. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Closes the connection; every request still waiting fails with CONNECTION_CLOSED. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = error;
    if (error || this.socket.destroyed) {
      this.socket.destroy();
    } else {
      // A graceful close still delivers responses written this tick (they may be corked): end, then destroy.
      if (this.corked) {
        this.corked = false;
        this.socket.uncork();
      }
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    const failure = new RemotingError(RemotingErrorCode.CONNECTION_CLOSED, `connection to ${this.remoteAddress} closed${error ? `: ${error.message}` : ''}`, { cause: error });
    for (const pending of this.pending.values()) {
      this.release(pending);
      pending.reject(failure);
    }
    this.pending.clear();
    this.options.onClose?.(this, error);
  }
}
