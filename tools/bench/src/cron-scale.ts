// Cron jobs at scale on one broker process: create N jobs through CronAdmin (requests pipelined), print the
// broker's RSS before/after (from /proc), check that only each job's next occurrence is scheduled (pending timers
// in the timer store's checkpoint ≈ enabled jobs, not one timer per job held in memory), and that a few
// every-second jobs among them still fire once per second.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin, CronAdmin, PushConsumer } from '@litemq/client';
import type { CronJobSpec } from '@litemq/client';
import { withBrokerProcess } from './broker-process.js';
import { createTopic } from './messaging.js';
import type { Figure } from './report.js';
import { elapsedSeconds, finish, format, header, intArg, printFigure } from './report.js';

const jobs = intArg('jobs', 100_000);
const inFlight = intArg('in-flight', 256);
const everySecond = intArg('every-second', 5);
const fireSeconds = intArg('fire-seconds', 5);
const TOPIC = 'bench-cron';
const FIRE_TOPIC = 'bench-cron-fire';

function procStatusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** Pending timers as of the timer store's last checkpoint (written about once a second). */
function checkpointPending(dataDir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dataDir, 'timer', 'checkpoint'), 'utf8')) as { pending: number }).pending;
  } catch {
    return -1; // not written yet
  }
}

async function until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Job i: a daily job at a time spread over the day (one occurrence a day, so nothing fires during the run). */
function dailyJob(i: number): CronJobSpec {
  const second = i % 60;
  const minute = Math.floor(i / 60) % 60;
  const hour = Math.floor(i / 3600) % 24;
  return {
    id: `job-${String(i).padStart(6, '0')}`, cron: `${second} ${minute} ${hour} * * *`, timezone: i % 2 === 0 ? 'UTC' : 'Europe/Paris', topic: TOPIC,
    template: { body: `report ${i}`, keys: [`k${i}`], tags: 'daily' }, misfirePolicy: i % 3 === 0 ? 'skip' : 'fire-once',
  };
}

header('cron: 100,000-job scale on one broker process');
console.log(`${format(jobs)} daily jobs + ${everySecond} every-second jobs, ${inFlight} CRON_PUT requests in flight`);

const figures: Figure[] = [];
await withBrokerProcess({}, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  await createTopic(server.nameServer, FIRE_TOPIC);
  const admin = new Admin({ nameServers: [server.nameServer] });
  const brokerName = (await admin.clusterInfo()).brokers.find((broker) => broker.brokerId === 0)!.brokerName;
  await admin.close();
  const cron = new CronAdmin({ nameServers: [server.nameServer], requestTimeoutMs: 60_000 });
  await until(() => (checkpointPending(server.dataDir) >= 0 ? true : undefined), 10_000, 'the first timer checkpoint');
  const pendingBefore = checkpointPending(server.dataDir);
  const rssBefore = procStatusKiB(server.pid, 'VmRSS') * 1024;

  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const start = (): void => {
      const i = next++;
      cron.put(dailyJob(i), { brokerName }).then(() => {
        done++;
        if (next < jobs) start();
        else if (done === jobs) resolve();
      }, reject);
    };
    for (let i = 0; i < Math.min(inFlight, jobs); i++) start();
  });
  const seconds = elapsedSeconds(started);
  for (let i = 0; i < everySecond; i++) {
    await cron.put({ id: `tick-${i}`, cron: '* * * * * *', topic: FIRE_TOPIC, template: { body: `tick ${i}` } }, { brokerName });
  }
  const enabled = jobs + everySecond;
  console.log(`  ${format(jobs)} jobs created in ${seconds.toFixed(1)} s (${format(jobs / seconds)} jobs/s)`);

  // Every job contributes exactly one pending timer (its next occurrence); the every-second ones fire and
  // re-schedule, so their count stays one each. Wait for a checkpoint that includes every put.
  const pending = await until(() => {
    const value = checkpointPending(server.dataDir) - pendingBefore;
    return value >= enabled ? value : undefined;
  }, 15_000, 'a checkpoint with every job scheduled');

  // A few every-second jobs among the 100,000 still fire: count their messages for `fireSeconds` s.
  const bySecond = new Map<string, Set<number>>();
  const consumer = new PushConsumer({ nameServers: [server.nameServer], group: 'bench-cron-reader', consumeFromWhere: 'FIRST_OFFSET', routeRefreshMs: 200, rebalanceIntervalMs: 200 });
  consumer.subscribe(FIRE_TOPIC);
  let firstAt = 0;
  let lastAt = 0;
  await consumer.start((message) => {
    const job = message.systemProperties.$cronJob ?? '?';
    const at = Number(message.systemProperties.$scheduledAt);
    if (!bySecond.has(job)) bySecond.set(job, new Set());
    bySecond.get(job)!.add(at);
    firstAt = firstAt === 0 ? at : Math.min(firstAt, at);
    lastAt = Math.max(lastAt, at);
  });
  const window = await until(() => (lastAt - firstAt >= fireSeconds * 1000 ? lastAt - firstAt : undefined), (fireSeconds + 30) * 1000, 'the every-second jobs to fire');
  await consumer.close();
  const rss = procStatusKiB(server.pid, 'VmRSS') * 1024;
  const peak = procStatusKiB(server.pid, 'VmHWM') * 1024;
  const listed = await cron.list({ brokerName, limit: 1 });
  await cron.close();
  const occurrences = [...bySecond.values()].map((set) => set.size);
  const expectedEach = Math.round(window / 1000) + 1;
  console.log(`  every-second jobs: ${bySecond.size} of ${everySecond} fired; distinct occurrences each over ${window} ms: ${occurrences.join(', ')} (expected ${expectedEach})`);
  console.log(`  broker RSS before ${format(rssBefore / 1024 ** 2)} MiB, after ${format(rss / 1024 ** 2)} MiB (peak ${format(peak / 1024 ** 2)} MiB); ${listed.length} listed with limit 1`);

  figures.push({ name: `cron jobs created through CronAdmin (${inFlight} in flight)`, target: 'info', measured: `${format(jobs / seconds)} jobs/s (${format(jobs)} in ${seconds.toFixed(1)} s)`, pass: true });
  figures.push({
    name: `pending timers after creating ${format(enabled)} enabled jobs (timer store checkpoint)`,
    target: `= enabled jobs (${format(enabled)}): next occurrence only`,
    measured: `${format(pending)}`,
    // The every-second jobs may have one more pending for an occurrence just re-scheduled before the previous fired.
    pass: pending >= enabled && pending <= enabled + 2 * everySecond,
  });
  figures.push({
    name: `broker RSS with ${format(enabled)} cron jobs (before → after, peak)`,
    target: 'info (timer memory is the fixed wheel; jobs are definitions in a map)',
    measured: `${format(rssBefore / 1024 ** 2)} → ${format(rss / 1024 ** 2)} MiB (+${format((rss - rssBefore) / jobs)} B/job), peak ${format(peak / 1024 ** 2)} MiB`,
    pass: peak <= 1024 ** 3,
  });
  figures.push({
    name: `every-second jobs among them fire (distinct occurrences in ${window} ms)`,
    target: `${everySecond} jobs, ${expectedEach} each`,
    measured: `${bySecond.size} jobs: ${occurrences.join(', ')}`,
    pass: bySecond.size === everySecond && occurrences.every((count) => Math.abs(count - expectedEach) <= 0),
  });
});
for (const figure of figures) printFigure(figure);
finish(figures);
