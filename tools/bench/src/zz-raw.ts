// Broker ceiling: pre-encoded frames, no per-message client work.
import { RpcClient, RequestCode, encodeRecord } from '@litemq/protocol';
import { startBrokerProcess } from './broker-process.ts';
import { createTopic } from './messaging.ts';
const server = await startBrokerProcess({ nodeArgs: process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROF] : [] });
await createTopic(server.nameServer, 'raw');
const rpc = new RpcClient({});
const perFrame = +(process.argv[2] ?? 250), frames = +(process.argv[3] ?? 4), total = 2_000_000;
const recs = Array.from({ length: perFrame }, (_, i) => encodeRecord({ topic: 'raw', body: Buffer.alloc(1024, 'x') }, { queueId: i % 8 }));
let sent = 0, done = 0;
const t0 = process.hrtime.bigint();
await new Promise<void>((resolve) => {
  const go = () => { if (sent >= total) { if (done >= total) resolve(); return; } sent += perFrame;
    // fresh copies: the broker patches in place only its own buffer, ours are reused
    rpc.request(server.broker, RequestCode.SEND_MESSAGE, {}, recs, { timeoutMs: 10000 }).then(() => { done += perFrame; go(); }, (e) => { console.error(e); process.exit(1); }); };
  for (let i = 0; i < frames; i++) go();
});
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`raw: ${(total / s).toFixed(0)} msg/s, ${perFrame}/frame, ${frames} frames in flight`);
rpc.close?.(); await server.stop();
