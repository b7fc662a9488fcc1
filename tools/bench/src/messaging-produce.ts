// Acknowledged produce throughput: one Producer in this process, one broker process (async flush).
import { brokerNodeArgs, serverSetArgs, withBrokerProcess } from './broker-process.js';
import { createTopic, newProducer, sendAll, QUEUES } from './messaging.js';
import { measureWithProbe } from './page-cache-probe.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, printFigure, stringArg } from './report.js';

const bodyBytes = intArg('body-bytes', 1024);
const messages = intArg('messages', 500_000);
const inFlight = intArg('in-flight', 1000);
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 5) };
const profileDir = stringArg('broker-prof', undefined);
const TOPIC = 'bench-produce';

/** Targets of the issue: ≥ 200k msg/s at 1 KiB bodies, ≥ 400k msg/s at 128 B. */
function targetFor(bytes: number): number | undefined {
  if (bytes === 1024) return 200_000;
  if (bytes === 128) return 400_000;
  return undefined;
}

header('messaging: acknowledged produce throughput (producer in this process, broker in its own)');
console.log(`${format(messages)} messages per run, body ${bodyBytes} B, ${format(inFlight)} send() calls in flight, topic with ${QUEUES} queues, flushMode async`);

const figures: Figure[] = [];
await withBrokerProcess({ nodeArgs: brokerNodeArgs(profileDir), serverArgs: serverSetArgs() }, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  const producer = newProducer(server.nameServer);
  await producer.start();
  const message = { topic: TOPIC, body: Buffer.alloc(bodyBytes, 'x') };
  try {
    const rate = await measureWithProbe(
      'acknowledged sends',
      plan,
      async () => {
        const started = process.hrtime.bigint();
        await sendAll(producer, message, messages, inFlight);
        return messages / elapsedSeconds(started);
      },
      'msg/s',
    );
    const target = targetFor(bodyBytes);
    const mib = ((rate * bodyBytes) / 1024 ** 2).toFixed(0);
    figures.push({
      name: `produce msg/s, ${bodyBytes} B bodies, ${inFlight} in flight`,
      target: target === undefined ? 'info' : `>= ${format(target)}`,
      measured: `${format(rate)} (${mib} MiB/s of bodies)`,
      pass: target === undefined ? undefined : rate >= target,
    });
  } finally {
    await producer.close();
  }
});
for (const figure of figures) printFigure(figure);
finish(figures);
