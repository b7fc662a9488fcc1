/**
 * Client-side cost of Producer.send: 1 KiB messages, ~1000 sends in flight, against a null broker (an RpcServer
 * in this process that answers offsets without storing anything) and a one-route NameServer. It measures the
 * producer's encode + batching + framing overhead, not a real broker.
 *
 *   node --conditions=@litemq/source --import tsx packages/client/bench/producer-throughput.ts [messages] [inFlight]
 */
import { RequestCode, RpcServer, SEND_RESULT_ENTRY_BYTES, TopicPerm, forEachRecord, writeU64 } from '@litemq/protocol';
import { Producer } from '../src/index.js';

const total = Number(process.argv[2] ?? 200_000);
const inFlight = Number(process.argv[3] ?? 1000);

const broker = new RpcServer();
let next = 0;
broker.register(RequestCode.SEND_MESSAGE, (frame) => {
  const count = forEachRecord(frame.body, () => undefined);
  const body = Buffer.alloc(count * SEND_RESULT_ENTRY_BYTES);
  for (let i = 0; i < count; i++) writeU64(body, i * SEND_RESULT_ENTRY_BYTES, next++);
  return { header: { count, storeTimestamp: Date.now(), brokerName: 'null' }, body };
});
const brokerAddress = `127.0.0.1:${await broker.listen(0)}`;
const nameServer = new RpcServer();
nameServer.register(RequestCode.GET_ROUTE, (frame) => ({
  header: {
    topic: frame.header.topic as string,
    brokers: [{ clusterName: 'c', brokerName: 'null', addrs: { '0': brokerAddress } }],
    queues: [{ brokerName: 'null', readQueueNums: 8, writeQueueNums: 8, perm: TopicPerm.READ_WRITE }],
  },
}));
const nameServerAddress = `127.0.0.1:${await nameServer.listen(0)}`;

const producer = new Producer({ nameServers: [nameServerAddress] });
await producer.start();
const body = Buffer.alloc(1024, 7);
await producer.send({ topic: 'bench', body }); // warm the route and connection

let sent = 0;
const started = process.hrtime.bigint();
async function worker(): Promise<void> {
  while (sent < total) {
    sent++;
    await producer.send({ topic: 'bench', body });
  }
}
await Promise.all(Array.from({ length: inFlight }, worker));
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${total} sends of 1 KiB, ${inFlight} in flight: ${(total / seconds).toFixed(0)} msg/s (${seconds.toFixed(2)} s)\n`);
await producer.close();
await broker.close(100);
await nameServer.close(100);
