// Sequential read throughput through the ConsumeQueue: store.read(topic, queueId, offset, { maxCount }).
import { MessageStore } from '@litemq/storage';
import { RECORD_BYTES, encodeBatch, restampIds } from './records.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, measure, printFigure, withTempDir } from './report.js';

const records = intArg('records', 1_048_576);
const maxCount = intArg('max-count', 256);
const batchSize = intArg('batch', 32);
// --queues N runs only that layout (default: 1 queue, then 4).
const onlyQueues = intArg('queues', 0);
// --verify 0 opens the store with verifyOnRead false, to show what CRC checking on every read costs.
const verifyOnRead = intArg('verify', 1) === 1;
const plan = { warmups: intArg('warmups', 1), runs: intArg('runs', 5) };
const TOPIC = 'bench-read';

header('storage: sequential read throughput through the ConsumeQueue');
console.log(`${format(records)} records x ${RECORD_BYTES} B written first (async flush, batches of ${batchSize}, one queue per batch, queues round-robin), then read back with maxCount ${maxCount}, verifyOnRead ${verifyOnRead}; the log is in the page cache (tail-reader case)`);

/** Fills the store: 4 appends in flight so the setup itself is quick. */
async function fill(store: MessageStore, queues: number): Promise<void> {
  const batches = Math.floor(records / batchSize);
  const pool = Array.from({ length: 4 }, () => Array.from({ length: queues }, (_, q) => encodeBatch(TOPIC, q, batchSize)));
  let next = 0;
  await Promise.all(pool.map(async (perQueue) => {
    while (next < batches) {
      const buf = perQueue[next++ % queues]!;
      restampIds(buf);
      await store.append(buf);
    }
  }));
}

async function readAll(store: MessageStore, queues: number): Promise<number> {
  let total = 0;
  const started = process.hrtime.bigint();
  for (let queueId = 0; queueId < queues; queueId++) {
    let offset = 0;
    for (;;) {
      const result = await store.read(TOPIC, queueId, offset, { maxCount });
      if (result.status !== 'FOUND') break;
      total += result.count;
      offset = result.nextOffset;
    }
  }
  const seconds = elapsedSeconds(started);
  if (total !== Math.floor(records / batchSize) * batchSize) throw new Error(`read ${total} records, expected ${records}`);
  return total / seconds;
}

const figures: Figure[] = [];
for (const queues of onlyQueues > 0 ? [onlyQueues] : [1, 4]) {
  await withTempDir(`read-${queues}q`, async (dir) => {
    const writer = await MessageStore.open(dir, { flushMode: 'async' });
    const fillStarted = process.hrtime.bigint();
    await fill(writer, queues);
    await writer.close();
    // Reopened, so every record read was on disk at open and gets its CRCs checked (the conservative case; a
    // store reading back what it appended itself skips that check, see trustOwnWrites).
    const store = await MessageStore.open(dir, { flushMode: 'async', verifyOnRead });
    try {
      console.log(`  ${queues} queue(s): filled in ${elapsedSeconds(fillStarted).toFixed(1)} s, reopened (${dir})`);
      const rate = await measure(`read ${queues} queue(s)`, plan, () => readAll(store, queues), 'records/s');
      const runsOf = queues === 1 ? 'one contiguous run' : `runs of ${batchSize} interleaved with ${queues - 1} other queues`;
      figures.push({
        name: `read records/s, ${queues} queue(s) (${runsOf})`,
        target: '>= 500,000',
        measured: `${format(rate)} (${((rate * RECORD_BYTES) / 1024 ** 2).toFixed(0)} MiB/s)`,
        pass: rate >= 500_000,
      });
    } finally {
      await store.close();
    }
  });
}
for (const figure of figures) printFigure(figure);
finish(figures);
