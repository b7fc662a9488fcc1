import type { Command } from 'commander';
import { DlqAdmin } from '@litemq/client';
import { printLine } from './print-line.js';

interface DlqFlags {
  namesrv: string;
  group: string;
  limit?: string;
  broker?: string;
  to?: string;
  all?: boolean;
}

function nameServersOf(flag: string): string[] {
  return flag.split(',').map((address) => address.trim()).filter(Boolean);
}


async function withDlq(flags: DlqFlags, work: (dlq: DlqAdmin) => Promise<void>): Promise<void> {
  const dlq = new DlqAdmin({ nameServers: nameServersOf(flags.namesrv) });
  try {
    await work(dlq);
  } finally {
    await dlq.close();
  }
}

function common(command: Command): Command {
  return command
    .requiredOption('-g, --group <group>', 'consumer group whose dead letters to work on')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .option('-b, --broker <brokerName>', 'only this broker');
}

/** `litemq dlq list|show|resend|purge`: dead letters of a consumer group. */
export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('dead-letter queues: list, show, re-send and purge the messages a consumer group gave up on');
  common(dlq.command('list'))
    .description('dead letters of a group (one JSON line each: msgId, originTopic, attempts, lastError, history, times; then a summary)')
    .option('--limit <n>', 'most messages (1-100000)', '1000')
    .action((flags: DlqFlags) =>
      withDlq(flags, async (admin) => {
        const messages = await admin.list(flags.group, { limit: Number(flags.limit), brokerName: flags.broker });
        for (const message of messages) printLine(message);
        printLine({ shown: messages.length });
      }),
    );
  common(dlq.command('show <msgId>'))
    .description('one dead letter with its body (utf8 as `body`, base64 as `bodyBase64`)')
    .action((msgId: string, flags: DlqFlags) =>
      withDlq(flags, async (admin) => {
        const message = await admin.show(flags.group, msgId, { brokerName: flags.broker });
        if (!message) {
          process.stderr.write(`no dead letter ${msgId} for group ${flags.group}\n`);
          process.exitCode = 1;
          return;
        }
        const { body, ...info } = message;
        printLine({ ...info, body: body.toString('utf8'), bodyBase64: body.toString('base64') });
      }),
    );
  common(dlq.command('resend [msgIds...]'))
    .description('re-publish dead letters to the group (retry topic, default) or to their original topic; --all for every one')
    .option('--to <target>', 'retry (this group only, fresh retry budget) or origin (the original topic)', 'retry')
    .option('--all', 'every dead letter of the group')
    .action((msgIds: string[], flags: DlqFlags) =>
      withDlq(flags, async (admin) => {
        if (msgIds.length === 0 && !flags.all) throw new Error('name message ids or pass --all');
        const to = flags.to?.toUpperCase();
        if (to !== 'RETRY' && to !== 'ORIGIN') throw new Error(`--to must be retry or origin, got ${JSON.stringify(flags.to)}`);
        printLine(await admin.resend(flags.group, msgIds, { to, brokerName: flags.broker }));
      }),
    );
  common(dlq.command('purge [msgIds...]'))
    .description('hide dead letters from list/show/resend; --all for every one')
    .option('--all', 'every dead letter of the group')
    .action((msgIds: string[], flags: DlqFlags) =>
      withDlq(flags, async (admin) => {
        if (msgIds.length === 0 && !flags.all) throw new Error('name message ids or pass --all');
        printLine({ purged: await admin.purge(flags.group, msgIds, { brokerName: flags.broker }) });
      }),
    );
}
