// Child of storage-recovery.ts: appends until `bytes` are in the log, reports it, and keeps appending
// until the parent SIGKILLs it, so the stop is as unclean as a crash (abort marker left, no final checkpoint).
import { MessageStore } from '@litemq/storage';
import { encodeBatch, restampIds } from './records.js';

const [dir, bytesArg, segmentBytesArg] = process.argv.slice(2);
if (!dir || !bytesArg || !segmentBytesArg || !process.send) throw new Error('usage: forked by storage-recovery.ts with <dir> <bytes> <segmentBytes>');
const send = process.send.bind(process);
const bytes = Number(bytesArg);
const TOPIC = 'bench-recovery';
const QUEUES = 4;

// The store checkpoints once at open (offset 0); never again, so recovery must scan all `bytes`.
const store = await MessageStore.open(dir, { flushMode: 'async', segmentBytes: Number(segmentBytesArg), checkpointIntervalMs: 2 ** 31 - 1 });
const pool = Array.from({ length: 4 }, (_, i) => encodeBatch(TOPIC, i % QUEUES, 32));
let reported = false;
await Promise.all(pool.map(async (buf) => {
  for (;;) {
    restampIds(buf);
    await store.append(buf);
    if (!reported && store.maxOffset >= bytes) {
      reported = true;
      send({ written: store.maxOffset });
    }
  }
}));
