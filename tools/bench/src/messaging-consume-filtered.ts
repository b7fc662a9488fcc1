// Consume throughput of groups that filter: by tag (on the broker by tag hash, exact check in the client) and
// by an SQL-92 property expression (evaluated on the broker at pull time, re-checked in the client).
import { Admin, PushConsumer } from '@litemq/client';
import type { SubscriptionFilter } from '@litemq/client';
import { brokerNodeArgs, serverSetArgs, withBrokerProcess } from './broker-process.js';
import { createTopic, newProducer, QUEUES } from './messaging.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, stringArg } from './report.js';

const bodyBytes = intArg('body-bytes', 1024);
const messages = intArg('messages', 400_000);
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 3) };
const profileDir = stringArg('broker-prof', undefined);
const TOPIC = 'bench-filtered';
const TAGS = ['red', 'green', 'blue', 'gold'];
const REGIONS = ['eu', 'us', 'apac', 'latam'];

/** Message i: tag TAGS[i % 4], region REGIONS[⌊i / 4⌋ % 4], amount i % 1000. */
function matchesTagFilter(i: number): boolean {
  return i % 4 < 2; // red || green
}
function matchesSqlFilter(i: number): boolean {
  return REGIONS[Math.floor(i / 4) % 4] === 'eu' && i % 1000 >= 500; // region = 'eu' AND amount >= 500
}

const cases: Array<{ name: string; filter: string | SubscriptionFilter; matches: (i: number) => boolean }> = [
  { name: "tag 'red || green'", filter: 'red || green', matches: matchesTagFilter },
  { name: "SQL \"region = 'eu' AND amount >= 500\"", filter: { sql: "region = 'eu' AND amount >= 500" }, matches: matchesSqlFilter },
];

header('messaging: consume throughput of a group with a tag or SQL filter (PushConsumer in this process, broker in its own)');
console.log(`topic pre-filled with ${format(messages)} messages of ${bodyBytes} B over ${QUEUES} queues, tags ${TAGS.join('/')}, properties region (${REGIONS.join('/')}) and amount (0-999); each run: a new group reads the topic from FIRST_OFFSET with a handler that counts; the run ends when every matching message arrived and the committed offsets cover the whole topic`);

/** Sends messages 0..count-1 with their tag and properties, 1,000 in flight. */
async function fill(nameServer: string): Promise<void> {
  const producer = newProducer(nameServer);
  await producer.start();
  const body = Buffer.alloc(bodyBytes, 'x');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < messages) {
      const i = next++;
      await producer.send({ topic: TOPIC, body, tags: TAGS[i % 4], properties: { region: REGIONS[Math.floor(i / 4) % 4]!, amount: String(i % 1000) } });
    }
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  await producer.close();
}

async function consumeOnce(nameServer: string, group: string, filter: string | SubscriptionFilter, expected: number): Promise<number> {
  const consumer = new PushConsumer({ nameServers: [nameServer], group, consumeFromWhere: 'FIRST_OFFSET' });
  consumer.subscribe(TOPIC, filter);
  let count = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const started = process.hrtime.bigint();
  await consumer.start(() => {
    if (++count === expected) done();
  });
  await all;
  // Filtered-out records are skipped by moving the offset: the run ends once the commits cover the whole topic.
  const admin = new Admin({ nameServers: [nameServer] });
  try {
    for (;;) {
      await consumer.commitOffsets();
      const offsets = await admin.consumerOffsets(group, TOPIC);
      if (offsets.queues.reduce((sum, queue) => sum + queue.committedOffset, 0) === messages) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await admin.close();
  }
  const seconds = elapsedSeconds(started);
  await consumer.close();
  if (count !== expected) throw new Error(`group ${group} received ${count} messages, expected ${expected}`);
  return messages / seconds;
}

const figures: Figure[] = [];
await withBrokerProcess({ nodeArgs: brokerNodeArgs(profileDir), serverArgs: serverSetArgs() }, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  const fillStarted = process.hrtime.bigint();
  await fill(server.nameServer);
  console.log(`pre-filled in ${elapsedSeconds(fillStarted).toFixed(1)} s`);
  let run = 0;
  for (const c of cases) {
    let expected = 0;
    for (let i = 0; i < messages; i++) if (c.matches(i)) expected++;
    const scanned = await measure(`${c.name}: topic messages scanned`, plan, () => consumeOnce(server.nameServer, `bench-filtered-${run++}`, c.filter, expected), 'msg/s');
    const delivered = (scanned * expected) / messages;
    figures.push({
      name: `consume with ${c.name} (${((100 * expected) / messages).toFixed(1)} % match), ${bodyBytes} B bodies`,
      target: 'info',
      measured: `${format(scanned)} msg/s of the topic scanned, ${format(delivered)} matching msg/s delivered`,
      pass: undefined,
    });
  }
});
for (const figure of figures) printFigure(figure);
finish(figures);
