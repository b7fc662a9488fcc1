// Pending delayed messages held by a real broker process: send N messages with deliverAt spread over the next
// hours through the Producer, then read the broker's RSS (VmRSS / VmHWM from /proc) and the disk it uses.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { withBrokerProcess } from './broker-process.js';
import { createTopic, newProducer } from './messaging.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, printFigure } from './report.js';

const timers = intArg('timers', 10_000_000);
const inFlight = intArg('in-flight', 2000);
const bodyBytes = intArg('body-bytes', 64);
const spreadMs = intArg('spread-ms', 6 * 3_600_000);
const TOPIC = 'bench-delay-pending';

function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

header('delay: pending delayed messages held by a broker process');
console.log(`${format(timers)} messages of ${bodyBytes} B with deliverAt spread over ${spreadMs / 3_600_000} h, ${format(inFlight)} sends in flight`);

const figures: Figure[] = [];
await withBrokerProcess({}, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  const producer = newProducer(server.nameServer);
  await producer.start();
  const body = Buffer.alloc(bodyBytes, 'd');
  const base = Date.now() + 3_600_000; // at least an hour out: nothing fires during the run
  const rssBefore = procStatusKiB(server.pid, 'VmRSS');
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const next = (): void => {
      const i = sent++;
      producer.send({ topic: TOPIC, body, deliverAt: base + (i % spreadMs) }).then(onAck, reject);
    };
    const onAck = (): void => {
      acked++;
      if (sent < timers) next();
      else if (acked === timers) resolve();
    };
    for (let i = 0; i < Math.min(inFlight, timers); i++) next();
  });
  const seconds = elapsedSeconds(started);
  await producer.close();
  const rss = procStatusKiB(server.pid, 'VmRSS') * 1024;
  const peak = procStatusKiB(server.pid, 'VmHWM') * 1024;
  const disk = diskBytes(server.dataDir);
  console.log(`  sent and acknowledged in ${seconds.toFixed(1)} s; broker RSS before ${format(rssBefore / 1024)} MiB`);
  figures.push({
    name: `broker RSS with ${format(timers)} pending delayed messages (peak during the run)`,
    target: '<= 1 GiB',
    measured: `${format(rss / 1024 ** 2)} MiB (peak ${format(peak / 1024 ** 2)} MiB)`,
    pass: peak <= 1024 ** 3,
  });
  figures.push({ name: 'disk used by the broker data dir (log of the messages + timer wheel and log)', target: 'info', measured: `${format(disk / 1024 ** 2)} MiB`, pass: true });
  figures.push({ name: 'delayed sends acknowledged through the broker', target: 'info (scheduling target >= 100,000/s is the timer store figure)', measured: `${format(timers / seconds)} msg/s`, pass: true });
});
for (const figure of figures) printFigure(figure);
finish(figures);
