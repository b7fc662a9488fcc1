// Consume throughput with offset commits: a PushConsumer (handler that only counts) over a pre-filled topic.
import { Admin, PushConsumer } from '@litemq/client';
import { brokerNodeArgs, serverSetArgs, withBrokerProcess } from './broker-process.js';
import { createTopic, newProducer, sendAll, QUEUES } from './messaging.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, stringArg } from './report.js';

const bodyBytes = intArg('body-bytes', 1024);
const messages = intArg('messages', 500_000);
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 5) };
const profileDir = stringArg('broker-prof', undefined);
const TOPIC = 'bench-consume';
const TARGET = 300_000;

header('messaging: consume throughput with offset commits (PushConsumer in this process, broker in its own)');
console.log(`topic pre-filled with ${format(messages)} messages of ${bodyBytes} B over ${QUEUES} queues; each run: a new consumer group reads them all from FIRST_OFFSET with a handler that counts; offsets are committed (piggybacked on pulls, periodically, and on close)`);

/** One run: time from start() until the handler saw every message; then close() and check the committed offsets. */
async function consumeOnce(nameServer: string, group: string): Promise<number> {
  const consumer = new PushConsumer({ nameServers: [nameServer], group, consumeFromWhere: 'FIRST_OFFSET' });
  consumer.subscribe(TOPIC);
  let count = 0;
  let seconds = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const started = process.hrtime.bigint();
  await consumer.start(() => {
    if (++count === messages) {
      seconds = elapsedSeconds(started);
      done();
    }
  });
  await all;
  await consumer.close(); // commits the final offsets
  const admin = new Admin({ nameServers: [nameServer] });
  try {
    const offsets = await admin.consumerOffsets(group, TOPIC);
    const committed = offsets.queues.reduce((sum, queue) => sum + queue.committedOffset, 0);
    if (committed !== messages) throw new Error(`group ${group} committed ${committed} offsets, expected ${messages}`);
  } finally {
    await admin.close();
  }
  if (count !== messages) throw new Error(`handler saw ${count} messages, expected ${messages}`);
  return messages / seconds;
}

const figures: Figure[] = [];
await withBrokerProcess({ nodeArgs: brokerNodeArgs(profileDir), serverArgs: serverSetArgs() }, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  const producer = newProducer(server.nameServer);
  await producer.start();
  const fillStarted = process.hrtime.bigint();
  await sendAll(producer, { topic: TOPIC, body: Buffer.alloc(bodyBytes, 'x') }, messages, 1000);
  await producer.close();
  console.log(`pre-filled in ${elapsedSeconds(fillStarted).toFixed(1)} s`);
  let run = 0;
  const rate = await measure('consumed (handler calls)', plan, () => consumeOnce(server.nameServer, `bench-consume-${run++}`), 'msg/s');
  figures.push({
    name: `consume msg/s with offset commits, ${bodyBytes} B bodies`,
    target: `>= ${format(TARGET)}`,
    measured: `${format(rate)} (${((rate * bodyBytes) / 1024 ** 2).toFixed(0)} MiB/s of bodies)`,
    pass: bodyBytes === 1024 ? rate >= TARGET : undefined,
  });
});
for (const figure of figures) printFigure(figure);
finish(figures);
