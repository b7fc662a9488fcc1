import { connect } from 'node:net';
import { RemotingError, RemotingErrorCode } from './errors.js';
import type { Frame, FrameBodyInput, FrameHeader } from './frame.js';
import { splitHostPort } from './host.js';
import type { RequestOptions, RpcLogger } from './rpc-connection.js';
import { RpcConnection } from './rpc-connection.js';

export interface RpcClientOptions {
  connectTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Requests the servers send to this client (e.g. a broker asking a producer to check a transaction). */
  onRequest?: (frame: Frame, connection: RpcConnection) => void;
  logger?: RpcLogger;
}

/** One shared connection per server address, opened on first use and reopened after it closes. */
export class RpcClient {
  private readonly connections = new Map<string, Promise<RpcConnection>>();
  private closed = false;

  constructor(private readonly options: RpcClientOptions = {}) {}

  connection(address: string): Promise<RpcConnection> {
    if (this.closed) return Promise.reject(new RemotingError(RemotingErrorCode.CONNECTION_CLOSED, 'client is closed'));
    let connection = this.connections.get(address);
    if (!connection) {
      connection = this.open(address);
      this.connections.set(address, connection);
      connection.catch(() => this.connections.delete(address));
    }
    return connection;
  }

  private open(address: string): Promise<RpcConnection> {
    const { address: host, port } = splitHostPort(address);
    const timeoutMs = this.options.connectTimeoutMs ?? 3000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RemotingError(RemotingErrorCode.CONNECT_FAILED, `connecting to ${address} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new RemotingError(RemotingErrorCode.CONNECT_FAILED, `cannot connect to ${address}: ${error.message}`, { cause: error }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        const connection = new RpcConnection(socket, {
          maxFrameBytes: this.options.maxFrameBytes,
          logger: this.options.logger,
          onRequest: this.options.onRequest,
          onClose: () => {
            if (this.connections.get(address) === current) this.connections.delete(address);
          },
        });
        const current = Promise.resolve(connection);
        this.connections.set(address, current);
        resolve(connection);
      });
    });
  }

  async request(address: string, code: number, header?: FrameHeader, body?: FrameBodyInput, options?: RequestOptions): Promise<Frame> {
    const connection = await this.connection(address);
    return connection.request(code, header, body, options);
  }

  async oneway(address: string, code: number, header?: FrameHeader, body?: FrameBodyInput): Promise<void> {
    const connection = await this.connection(address);
    connection.oneway(code, header, body);
  }

  /** Closes every connection; pending requests fail with CONNECTION_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    const connections = [...this.connections.values()];
    this.connections.clear();
    for (const connection of connections) {
      try {
        (await connection).close();
      } catch {
        // never connected: nothing to close
      }
    }
  }
}
