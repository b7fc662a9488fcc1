// Starts a LiteMQ standalone server (NameServer + broker) in its own process for the messaging benchmarks.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../../apps/server/src/cli.ts');

/** The V8 flags the `litemq` command runs with (its shebang, `nx serve broker`): benchmark what users run. */
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

export interface BrokerProcess {
  readonly pid: number;
  /** NameServer address (`host:port`). */
  readonly nameServer: string;
  /** Broker address (`host:port`). */
  readonly broker: string;
  readonly dataDir: string;
  /** Graceful stop (SIGTERM, so `--cpu-prof` profiles get written), then the data dir is deleted. */
  stop(): Promise<void>;
}

export interface StartBrokerOptions {
  /** Extra node flags for the server process, e.g. `['--cpu-prof', '--cpu-prof-dir', dir]`. */
  nodeArgs?: readonly string[];
  /** Extra `litemq standalone` flags, e.g. `['--set', 'broker.store.flushMode=sync']`. */
  serverArgs?: readonly string[];
  readyTimeoutMs?: number;
}

/** `--broker-prof <dir>` on a benchmark's command line: profile the server process into `dir`. */
export function brokerNodeArgs(profileDir: string | undefined): string[] {
  return profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
}

/** `--server-set key=value` on a benchmark's command line (repeatable): passed to the server as `--set key=value`. */
export function serverSetArgs(argv: readonly string[] = process.argv.slice(2)): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--server-set=')) out.push('--set', arg.slice('--server-set='.length));
    else if (arg === '--server-set' && argv[i + 1] !== undefined) out.push('--set', argv[++i]!);
  }
  return out;
}

/**
 * Spawns `litemq standalone` on ephemeral ports with a fresh data dir under the OS temp dir and resolves once it
 * prints its "litemq ready" line (never a fixed sleep).
 */
export async function startBrokerProcess(options: StartBrokerOptions = {}): Promise<BrokerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'litemq-bench-broker-'));
  const args = [
    '--conditions=@litemq/source',
    '--import',
    'tsx',
    ...SERVER_NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    CLI,
    'standalone',
    '--port',
    '0',
    '--namesrv-port',
    '0',
    '--data-dir',
    dataDir,
    ...(options.serverArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr += text;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  // A benchmark that dies (or is killed by a timeout) before stop() must not leave its server running.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const ready = await new Promise<{ nameServer: string; broker: string }>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not print "litemq ready" within ${options.readyTimeoutMs ?? 30_000} ms\n${stderr}`)), options.readyTimeoutMs ?? 30_000);
    // Keep reading stdout for the whole run: a full pipe would block the server's logger.
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.includes('litemq ready')) {
        if (line.includes('"level":50') || line.includes('"level":60')) console.error(`[broker] ${line}`);
        return;
      }
      const entry = JSON.parse(line) as { nameServer?: string; broker?: string };
      if (typeof entry.nameServer !== 'string' || typeof entry.broker !== 'string') return;
      clearTimeout(timer);
      done({ nameServer: entry.nameServer, broker: entry.broker });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with code ${code} before it was ready\n${stderr}`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    ...ready,
    dataDir,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

/** Starts a server, runs `use`, and always stops the server after (also when `use` throws). */
export async function withBrokerProcess<T>(options: StartBrokerOptions, use: (server: BrokerProcess) => Promise<T>): Promise<T> {
  const server = await startBrokerProcess(options);
  console.log(`server: node ${SERVER_NODE_FLAGS.join(' ')}, pid ${server.pid}, nameServer ${server.nameServer}, broker ${server.broker}, data dir ${server.dataDir}`);
  try {
    return await use(server);
  } finally {
    await server.stop();
  }
}
