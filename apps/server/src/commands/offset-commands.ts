import type { Command } from 'commander';
import { Admin } from '@litemq/client';
import { printLine } from './print-line.js';

interface OffsetFlags {
  namesrv: string;
  group: string;
  topic?: string;
  to?: string;
}

function nameServersOf(flag: string): string[] {
  return flag.split(',').map((address) => address.trim()).filter(Boolean);
}


/** `earliest`, `latest`, ms since epoch, or an ISO-8601 time. */
export function parseResetTarget(text: string): 'earliest' | 'latest' | number {
  const lower = text.trim().toLowerCase();
  if (lower === 'earliest' || lower === 'latest') return lower;
  if (/^\d+$/.test(lower)) return Number(lower);
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw new Error(`--to must be earliest, latest, ms since epoch or an ISO-8601 time, got ${JSON.stringify(text)}`);
  return time;
}

async function withAdmin(flags: OffsetFlags, work: (admin: Admin) => Promise<void>): Promise<void> {
  const admin = new Admin({ nameServers: nameServersOf(flags.namesrv) });
  try {
    await work(admin);
  } finally {
    await admin.close();
  }
}

/** `litemq offset reset|lag`: consumer group offsets. */
export function registerOffset(program: Command): void {
  const offset = program.command('offset').description('consumer group offsets: reset to earliest/latest/a time, show lag');
  offset
    .command('reset')
    .description('reset a group to earliest, latest or a time; connected consumers continue from there at once (one JSON line per queue, then a summary)')
    .requiredOption('-g, --group <group>', 'consumer group')
    .requiredOption('--to <target>', 'earliest, latest, ms since epoch or an ISO-8601 time')
    .option('-t, --topic <topic>', 'only this topic (default: every topic of the group)')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .action((flags: OffsetFlags) =>
      withAdmin(flags, async (admin) => {
        const result = await admin.resetOffsets(flags.group, { to: parseResetTarget(flags.to ?? ''), topic: flags.topic });
        for (const queue of result.queues) printLine(queue);
        printLine({ group: result.group, queues: result.queues.length, notifiedClients: result.notifiedClients });
      }),
    );
  offset
    .command('lag')
    .description('committed offset, max offset and lag per queue (one JSON line each), then the lag per topic and the total')
    .requiredOption('-g, --group <group>', 'consumer group')
    .option('-t, --topic <topic>', 'only this topic')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .action((flags: OffsetFlags) =>
      withAdmin(flags, async (admin) => {
        const offsets = await admin.consumerOffsets(flags.group, flags.topic);
        const byTopic: Record<string, number> = {};
        for (const queue of offsets.queues) {
          printLine(queue);
          byTopic[queue.topic] = (byTopic[queue.topic] ?? 0) + Math.max(0, queue.lag);
        }
        printLine({ group: offsets.group, lagByTopic: byTopic, totalLag: offsets.totalLag });
      }),
    );
}
