// The broker's side of produce alone: pre-encoded SEND frames from one connection, no Producer (no encoding, CRC,
// batching or promise per message in this process), so the figure is what one broker process stores when its
// client costs next to nothing. Compare with messaging-produce.ts to see how the two processes share the 2 cores.
import { RecordField, RequestCode, RpcClient, encodeRecord, putU32BE } from '@litemq/protocol';
import { brokerNodeArgs, serverSetArgs, withBrokerProcess } from './broker-process.js';
import { QUEUES, createTopic } from './messaging.js';
import { measureWithProbe } from './page-cache-probe.js';
import { elapsedSeconds, finish, format, header, intArg, printFigure, stringArg } from './report.js';

const bodyBytes = intArg('body-bytes', 1024);
const messages = intArg('messages', 500_000);
const perFrame = intArg('records-per-frame', 250);
const framesInFlight = intArg('frames-in-flight', 4);
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 5) };
const profileDir = stringArg('broker-prof', undefined);
const TOPIC = 'bench-produce-frames';

header('messaging: broker-only produce throughput (pre-encoded SEND frames, no Producer)');
console.log(`${format(messages)} messages per run, body ${bodyBytes} B, ${perFrame} records per frame, ${framesInFlight} frames in flight, topic with ${QUEUES} queues, flushMode async`);

let idCounter = 0;

/**
 * A new frame of the first `count` records, each with a message id of its own (the broker indexes ids: repeating the
 * same ids would make its index work cheaper than real traffic's). One copy per frame is all the client does.
 */
function frameOf(records: readonly Buffer[], count: number): Buffer {
  const frame = Buffer.concat(count === records.length ? records : records.slice(0, count));
  for (let at = 0; at < frame.length; at += frame.readUInt32BE(at + RecordField.TOTAL_SIZE)) {
    putU32BE(frame, at + RecordField.MSG_ID + 12, ++idCounter >>> 0);
  }
  return frame;
}

/** Sends `messages` records in frames of `perFrame`, `framesInFlight` at a time, and resolves once all were stored. */
function sendFrames(rpc: RpcClient, broker: string, records: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let stored = 0;
    if (messages <= 0) resolve();
    const next = (): void => {
      if (sent >= messages) return;
      const count = Math.min(perFrame, messages - sent);
      sent += count;
      rpc.request(broker, RequestCode.SEND_MESSAGE, {}, frameOf(records, count), { timeoutMs: 30_000 }).then(
        () => {
          stored += count;
          if (stored === messages) resolve();
          else next();
        },
        reject,
      );
    };
    for (let i = 0; i < framesInFlight; i++) next();
  });
}

await withBrokerProcess({ nodeArgs: brokerNodeArgs(profileDir), serverArgs: serverSetArgs() }, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  // Template records spread over the queues; every frame is a copy with fresh ids (frameOf).
  const records = Array.from({ length: perFrame }, (_, i) => encodeRecord({ topic: TOPIC, body: Buffer.alloc(bodyBytes, 'x') }, { queueId: i % QUEUES }));
  const rpc = new RpcClient();
  try {
    const rate = await measureWithProbe(
      'stored records',
      plan,
      async () => {
        const started = process.hrtime.bigint();
        await sendFrames(rpc, server.broker, records);
        return messages / elapsedSeconds(started);
      },
      'msg/s',
    );
    printFigure({
      name: `broker-only produce msg/s, ${bodyBytes} B bodies, ${perFrame} per frame, ${framesInFlight} frames in flight`,
      target: 'info',
      measured: `${format(rate)} (${((rate * bodyBytes) / 1024 ** 2).toFixed(0)} MiB/s of bodies)`,
      pass: undefined,
    });
  } finally {
    await rpc.close();
  }
});
finish([]);
