import type { Command } from 'commander';
import { CronAdmin } from '@litemq/client';
import type { CronJobSpec } from '@litemq/client';
import { printLine } from './print-line.js';

interface CommonFlags {
  namesrv: string;
  broker?: string;
}

interface AddFlags extends CommonFlags {
  id: string;
  cron: string;
  tz: string;
  topic: string;
  body: string;
  tags?: string;
  keys?: string;
  property?: string[];
  misfire: 'fire-once' | 'skip';
  paused?: boolean;
}

function nameServersOf(flag: string): string[] {
  return flag.split(',').map((address) => address.trim()).filter(Boolean);
}


async function withAdmin(flags: CommonFlags, run: (admin: CronAdmin) => Promise<void>): Promise<void> {
  const admin = new CronAdmin({ nameServers: nameServersOf(flags.namesrv) });
  try {
    await run(admin);
  } finally {
    await admin.close();
  }
}

function common(command: Command): Command {
  return command
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .option('--broker <brokerName>', 'only this broker');
}

function properties(list: string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of list) {
    const at = item.indexOf('=');
    if (at <= 0) throw new Error(`--property ${JSON.stringify(item)} must be name=value`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

/** `litemq cron add|list|pause|resume|rm|next`: scheduled jobs that publish a message at each occurrence. */
export function registerCron(program: Command): void {
  const cron = program.command('cron').description('cron jobs: scheduled messages from a cron expression (with seconds) in a time zone');
  common(
    cron
      .command('add')
      .description('create or replace a job')
      .requiredOption('--id <id>', 'job id')
      .requiredOption('--cron <expression>', 'cron expression, 6 fields with seconds, e.g. "*/10 * * * * *"')
      .requiredOption('-t, --topic <topic>', 'topic each firing publishes to')
      .requiredOption('-b, --body <text>', 'message body (UTF-8)')
      .option('--tz <zone>', 'IANA time zone', 'UTC')
      .option('--tags <tag>', 'message tag')
      .option('--keys <keys>', 'message keys, comma-separated')
      .option('--property <name=value>', 'user property (repeatable)', (value: string, all: string[] = []) => [...all, value])
      .option('--misfire <policy>', "after an outage: 'fire-once' (one catch-up message) or 'skip'", 'fire-once')
      .option('--paused', 'create the job paused'),
  ).action(async (flags: AddFlags) => {
    const job: CronJobSpec = {
      id: flags.id, cron: flags.cron, timezone: flags.tz, topic: flags.topic, misfirePolicy: flags.misfire, enabled: !flags.paused,
      template: { body: flags.body, tags: flags.tags, keys: flags.keys?.split(',').filter(Boolean), properties: properties(flags.property) },
    };
    await withAdmin(flags, async (admin) => printLine(await admin.put(JSON.parse(JSON.stringify(job)) as CronJobSpec, { brokerName: flags.broker })));
  });
  common(cron.command('list').description('jobs of every broker master, one JSON line each, then a summary')).action(async (flags: CommonFlags) => {
    await withAdmin(flags, async (admin) => {
      const jobs = await admin.list({ brokerName: flags.broker });
      for (const job of jobs) printLine(job);
      printLine({ total: jobs.length });
    });
  });
  for (const [name, description] of [['pause', 'pause a job (no firing until resumed)'], ['resume', 'resume a paused job from now on']] as const) {
    common(cron.command(`${name} <id>`).description(description)).action(async (id: string, flags: CommonFlags) => {
      await withAdmin(flags, async (admin) => printLine(name === 'pause' ? await admin.pause(id, { brokerName: flags.broker }) : await admin.resume(id, { brokerName: flags.broker })));
    });
  }
  common(cron.command('rm <id>').description('delete a job')).action(async (id: string, flags: CommonFlags) => {
    await withAdmin(flags, async (admin) => {
      const deleted = await admin.delete(id, { brokerName: flags.broker });
      printLine({ id, deleted });
      if (!deleted) process.exitCode = 1;
    });
  });
  common(cron.command('next <id>').description("preview a job's next fire times").option('--count <n>', 'how many', '5')).action(
    async (id: string, flags: CommonFlags & { count: string }) => {
      await withAdmin(flags, async (admin) => {
        for (const time of await admin.next(id, Number(flags.count), { brokerName: flags.broker })) printLine({ id, at: time, iso: new Date(time).toISOString() });
      });
    },
  );
}
