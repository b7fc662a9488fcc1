// End-to-end latency at a steady rate: producer and PushConsumer in this process, broker in its own process.
import { PushConsumer } from '@litemq/client';
import * as hdr from 'hdr-histogram-js';
import { brokerNodeArgs, serverSetArgs, withBrokerProcess } from './broker-process.js';
import { createTopic, newProducer, QUEUES } from './messaging.js';
import type { Figure } from './report.js';
import { finish, format, header, intArg, median, printFigure, stringArg } from './report.js';

const rate = intArg('rate', 10_000);
const bodyBytes = intArg('body-bytes', 1024);
const warmupSeconds = intArg('warmup-seconds', 10);
const runSeconds = intArg('run-seconds', 5);
const runs = intArg('runs', 5);
const profileDir = stringArg('broker-prof', undefined);
const TOPIC = 'bench-latency';
const P50_TARGET_MS = 1;
const P99_TARGET_MS = 5;

header('messaging: end-to-end latency at a steady rate (producer + consumer in this process, broker in its own)');
console.log(`${format(rate)} msg/s, body ${bodyBytes} B carrying the send time (process.hrtime), ${QUEUES} queues, warm-up ${warmupSeconds} s, then ${runs} runs of ${runSeconds} s; latency = handler call - send() call, recorded in µs in an HDR histogram`);

interface RunResult {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

const figures: Figure[] = [];
await withBrokerProcess({ nodeArgs: brokerNodeArgs(profileDir), serverArgs: serverSetArgs() }, async (server) => {
  await createTopic(server.nameServer, TOPIC);
  const producer = newProducer(server.nameServer);
  await producer.start();
  const consumer = new PushConsumer({ nameServers: [server.nameServer], group: 'bench-latency', consumeFromWhere: 'LAST_OFFSET' });
  consumer.subscribe(TOPIC);
  let histogram: hdr.Histogram | undefined;
  let received = 0;
  await consumer.start((message) => {
    const now = process.hrtime.bigint();
    received++;
    const sentAt = message.body.readBigUInt64BE(0);
    histogram?.recordValue(Number(now - sentAt) / 1000);
  });
  const body = Buffer.alloc(bodyBytes, 'x');
  let failures = 0;

  /** Sends at `rate` msg/s for `seconds`, on a 1 ms timer that catches up with the schedule (no bursts beyond it). */
  async function paced(seconds: number): Promise<number> {
    const total = Math.round(rate * seconds);
    const startedNs = process.hrtime.bigint();
    let sent = 0;
    // Outstanding sends are counted with two shared callbacks: no Set entry, closure or extra promise per message.
    let outstanding = 0;
    let drained: (() => void) | undefined;
    const settle = (): void => {
      if (--outstanding === 0 && drained) drained();
    };
    const fail = (): void => {
      failures++;
      settle();
    };
    const message = { topic: TOPIC, body };
    while (sent < total) {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - startedNs) / 1e9) * rate) + 1);
      for (; sent < due; sent++) {
        // The send time goes into the body just before send(); send() encodes (copies) the body at once, so one
        // body buffer serves every message and the benchmark adds no garbage of its own per message.
        body.writeBigUInt64BE(process.hrtime.bigint(), 0);
        outstanding++;
        producer.send(message).then(settle, fail);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (outstanding > 0) await new Promise<void>((resolve) => (drained = resolve));
    return total;
  }

  async function waitReceived(target: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (received < target && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    if (received < target) throw new Error(`consumer received ${received} of ${target} messages`);
  }

  try {
    await paced(warmupSeconds);
    await waitReceived(Math.round(rate * warmupSeconds));
    const results: RunResult[] = [];
    for (let run = 0; run < runs; run++) {
      received = 0;
      histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
      const total = await paced(runSeconds);
      await waitReceived(total);
      const h = histogram;
      histogram = undefined;
      const ms = (p: number): number => h.getValueAtPercentile(p) / 1000;
      const result = { p50: ms(50), p90: ms(90), p99: ms(99), p999: ms(99.9), max: h.maxValue / 1000, count: h.totalCount };
      results.push(result);
      console.log(`  run ${run + 1}: ${format(result.count)} messages, p50 ${result.p50.toFixed(3)} ms, p90 ${result.p90.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms, p99.9 ${result.p999.toFixed(3)} ms, max ${result.max.toFixed(1)} ms`);
    }
    if (failures > 0) throw new Error(`${failures} sends failed`);
    const p50 = median(results.map((r) => r.p50));
    const p99 = median(results.map((r) => r.p99));
    console.log(`  median of ${runs} runs: p50 ${p50.toFixed(3)} ms, p90 ${median(results.map((r) => r.p90)).toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, p99.9 ${median(results.map((r) => r.p999)).toFixed(3)} ms`);
    figures.push(
      { name: `end-to-end p50 at ${format(rate)} msg/s, ${bodyBytes} B`, target: `<= ${P50_TARGET_MS} ms`, measured: `${p50.toFixed(3)} ms`, pass: p50 <= P50_TARGET_MS },
      { name: `end-to-end p99 at ${format(rate)} msg/s, ${bodyBytes} B`, target: `<= ${P99_TARGET_MS} ms`, measured: `${p99.toFixed(3)} ms`, pass: p99 <= P99_TARGET_MS },
    );
  } finally {
    await consumer.close();
    await producer.close();
  }
});
for (const figure of figures) printFigure(figure);
finish(figures);
