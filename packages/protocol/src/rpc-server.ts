import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Frame } from './frame.js';
import { isOnewayFrame } from './frame.js';
import { requestCodeName } from './request-code.js';
import { ResponseCode } from './response-code.js';
import type { RpcLogger } from './rpc-connection.js';
import { RpcConnection, silentLogger } from './rpc-connection.js';
import type { RpcReply } from './rpc-reply.js';
import { errorReply } from './rpc-reply.js';

export type RpcHandler = (request: Frame, connection: RpcConnection) => RpcReply | undefined | Promise<RpcReply | undefined>;

export interface RpcServerOptions {
  maxConnections?: number;
  /** Requests handled at once per connection; more are answered SYSTEM_BUSY at once. Default 4096. */
  maxInFlightPerConnection?: number;
  maxFrameBytes?: number;
  writeHighWaterBytes?: number;
  logger?: RpcLogger;
  onConnection?: (connection: RpcConnection) => void;
  onDisconnect?: (connection: RpcConnection) => void;
}

/**
 * A TCP server dispatching request frames to handlers by code. A handler's reply (or thrown error) is
 * sent back with the request's opaque; unknown codes get REQUEST_CODE_NOT_SUPPORTED; malformed frames
 * close only their own connection.
 */
export class RpcServer {
  private readonly handlers = new Map<number, RpcHandler>();
  private readonly server: Server;
  readonly connections = new Set<RpcConnection>();
  private readonly inFlight = new Map<RpcConnection, number>();
  private idleWaiters: Array<() => void> = [];
  private totalInFlight = 0;
  private readonly logger: RpcLogger;
  private accepting = true;

  constructor(private readonly options: RpcServerOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.server = createServer((socket) => this.accept(socket));
    this.server.maxConnections = options.maxConnections ?? 10_000;
  }

  register(code: number, handler: RpcHandler): this {
    this.handlers.set(code, handler);
    return this;
  }

  private accept(socket: Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const connection = new RpcConnection(socket, {
      maxFrameBytes: this.options.maxFrameBytes,
      writeHighWaterBytes: this.options.writeHighWaterBytes,
      logger: this.logger,
      onRequest: (frame, conn) => this.dispatch(frame, conn),
      onClose: (conn) => {
        this.connections.delete(conn);
        this.options.onDisconnect?.(conn);
      },
    });
    this.connections.add(connection);
    this.options.onConnection?.(connection);
  }

  private dispatch(frame: Frame, connection: RpcConnection): void {
    const handler = this.handlers.get(frame.code);
    if (!handler) {
      connection.respond(frame, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, {
        error: `request code ${frame.code} (${requestCodeName(frame.code)}) is not supported`,
        errorCode: 'REQUEST_CODE_NOT_SUPPORTED',
      });
      return;
    }
    const inFlight = this.inFlight.get(connection) ?? 0;
    if (inFlight >= (this.options.maxInFlightPerConnection ?? 4096)) {
      connection.respond(frame, ResponseCode.SYSTEM_BUSY, { error: `more than ${inFlight} requests in flight on this connection`, errorCode: 'SYSTEM_BUSY' });
      return;
    }
    this.inFlight.set(connection, inFlight + 1);
    this.totalInFlight++;
    let reply: RpcReply | undefined | Promise<RpcReply | undefined>;
    try {
      reply = handler(frame, connection);
    } catch (error) {
      reply = errorReply(error);
    }
    if (reply instanceof Promise) {
      reply.then(
        (value) => this.finish(frame, connection, value),
        (error: unknown) => this.finish(frame, connection, errorReply(error)),
      );
    } else {
      this.finish(frame, connection, reply);
    }
  }

  private finish(frame: Frame, connection: RpcConnection, reply: RpcReply | undefined): void {
    const left = (this.inFlight.get(connection) ?? 1) - 1;
    if (left === 0) this.inFlight.delete(connection);
    else this.inFlight.set(connection, left);
    this.totalInFlight--;
    if (!isOnewayFrame(frame) && !connection.closed) {
      connection.respond(frame, reply?.code ?? ResponseCode.SUCCESS, reply?.header, reply?.body);
    }
    if (this.totalInFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Starts listening; port 0 picks a free port. Resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Stops accepting connections (existing ones keep working). */
  stopAccepting(): void {
    this.accepting = false;
    this.server.close();
  }

  /** Resolves when no request is being handled. */
  idle(): Promise<void> {
    if (this.totalInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting, waits up to `graceMs` for in-flight requests, then closes every connection. */
  async close(graceMs = 5000): Promise<void> {
    this.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const connection of [...this.connections]) connection.close();
  }
}
