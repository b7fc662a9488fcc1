import { Admin } from '@litemq/client';
import type { LiteMQProcess } from './process-harness.js';
import { eventually, startLiteMQ, tempDataDir, waitReady } from './process-harness.js';

export interface ClusterFixture {
  nameServer: string;
  nameServerProcess: LiteMQProcess;
  brokers: Array<{ name: string; address: string; process: LiteMQProcess; dataDir: string }>;
  cleanup(): Promise<void>;
}

/** One NameServer and `brokerCount` brokers, each its own `litemq` process on ephemeral ports. */
export async function startCluster(brokerCount: number, options: { nameServerSettings?: string[]; brokerSettings?: string[] } = {}): Promise<ClusterFixture> {
  const data = await tempDataDir();
  const set = (settings: string[] = []) => settings.flatMap((setting) => ['--set', setting]);
  const nameServerProcess = startLiteMQ(['nameserver', '--port', '0', '--log-level', 'warn', ...set(options.nameServerSettings)]);
  const nameServer = String((await waitReady(nameServerProcess)).nameServer);
  const brokers = await Promise.all(
    Array.from({ length: brokerCount }, async (_, i) => {
      const name = `broker-${String.fromCharCode(97 + i)}`;
      const dataDir = `${data.dir}/${name}`;
      const proc = startLiteMQ([
        'broker', '--port', '0', '--data-dir', dataDir, '--namesrv', nameServer, '--log-level', 'warn',
        '--set', `broker.brokerName=${name}`, ...set(options.brokerSettings),
      ]);
      const ready = await waitReady(proc);
      return { name, address: String(ready.broker), process: proc, dataDir };
    }),
  );
  return {
    nameServer,
    nameServerProcess,
    brokers,
    async cleanup() {
      for (const broker of brokers) broker.process.kill('SIGKILL');
      nameServerProcess.kill('SIGKILL');
      await Promise.all([...brokers.map((broker) => broker.process.exited), nameServerProcess.exited]);
      await data.remove();
    },
  };
}

/** Creates `topic` with `queueNums` queues on every broker and waits until the route shows all of them. */
export async function createTopic(nameServer: string, topic: string, brokerCount: number, queueNums = 8): Promise<void> {
  const admin = new Admin({ nameServers: [nameServer] });
  try {
    // A broker prints "ready" before its first registration reaches the NameServer: wait for all of them.
    await eventually(async () => ((await admin.clusterInfo()).brokers.length === brokerCount ? true : undefined), 15_000, `${brokerCount} brokers registered`);
    await admin.createTopic(topic, { queueNums });
    await eventually(async () => {
      const route = await admin.getRoute(topic);
      return route.queues.length === brokerCount ? route : undefined;
    }, 15_000, `route of ${topic} on ${brokerCount} brokers`);
  } finally {
    await admin.close();
  }
}
