import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseCode, RpcClient, RpcServer, expectSuccess, rpcFailure } from '../src/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startServer(): Promise<{ server: RpcServer; address: string }> {
  const server = new RpcServer({ maxFrameBytes: 64 * 1024 });
  server.register(1, (request) => ({ header: { echo: request.header.value ?? null }, body: request.body }));
  server.register(2, async () => {
    throw rpcFailure(ResponseCode.TOPIC_NOT_EXIST, 'topic nope does not exist');
  });
  server.register(3, () => new Promise(() => undefined)); // never answers
  const port = await server.listen(0);
  cleanups.push(() => server.close(100));
  return { server, address: `127.0.0.1:${port}` };
}

function client(): RpcClient {
  const rpc = new RpcClient();
  cleanups.push(() => rpc.close());
  return rpc;
}

describe('RPC over TCP', () => {
  it('matches many concurrent responses to their requests', async () => {
    const { address } = await startServer();
    const rpc = client();
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => rpc.request(address, 1, { value: i }, Buffer.from(`b${i}`))));
    replies.forEach((reply, i) => {
      expect(reply.header.echo).toBe(i);
      expect(reply.body.toString()).toBe(`b${i}`);
    });
  });

  it('turns handler failures and unknown codes into typed error responses', async () => {
    const { address } = await startServer();
    const rpc = client();
    const failed = await rpc.request(address, 2);
    expect(failed.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(() => expectSuccess(failed)).toThrow(expect.objectContaining({ code: 'TOPIC_NOT_EXIST', retriable: false }));
    const unknown = await rpc.request(address, 999);
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  });

  it('times out and aborts requests', async () => {
    const { address } = await startServer();
    const rpc = client();
    await expect(rpc.request(address, 3, {}, undefined, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'RPC_TIMEOUT', retriable: true });
    const controller = new AbortController();
    const pending = rpc.request(address, 3, {}, undefined, { timeoutMs: 10_000, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'REQUEST_ABORTED', retriable: false });
  });

  it('closes only the connection that sent a bad or oversize frame', async () => {
    const { address, server } = await startServer();
    const rpc = client();
    await rpc.request(address, 1, { value: 'before' });
    for (const garbage of [Buffer.from([0, 0, 0, 20, 99, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), Buffer.from([0x7f, 0xff, 0xff, 0xff])]) {
      const socket = connect(Number(address.split(':')[1]), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(garbage);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    }
    expect((await rpc.request(address, 1, { value: 'after' })).header.echo).toBe('after');
    expect(server.connections.size).toBe(1);
  });

  it('fails pending requests when the server goes away and reconnects afterwards', async () => {
    const { address, server } = await startServer();
    const rpc = client();
    await rpc.request(address, 1, { value: 0 });
    const pending = rpc.request(address, 3, {}, undefined, { timeoutMs: 10_000 });
    for (const connection of server.connections) connection.close();
    await expect(pending).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect((await rpc.request(address, 1, { value: 1 })).header.echo).toBe(1);
  });
});
