import type { Command } from 'commander';
import { PushConsumer, Producer } from '@litemq/client';
import type { ReceivedMessage } from '@litemq/protocol';
import { clientCommandLogger } from './client-logger.js';
import { ServerError, ServerErrorCode } from '../errors.js';
import { printLine, printLineFlushed } from './print-line.js';

interface SendFlags {
  namesrv: string;
  topic: string;
  body: string;
  tags?: string;
  keys?: string;
  count: string;
  shardingKey?: string;
}

interface ConsumeFlags {
  namesrv: string;
  topic: string;
  group: string;
  expression: string;
  from: 'first' | 'last';
  count?: string;
  broadcast?: boolean;
  offsetDir?: string;
  instanceName?: string;
}

function nameServersOf(flag: string): string[] {
  return flag.split(',').map((address) => address.trim()).filter(Boolean);
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send messages (for trying LiteMQ by hand)')
    .requiredOption('-t, --topic <topic>', 'topic')
    .requiredOption('-b, --body <text>', 'message body (UTF-8)')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .option('--tags <tag>', 'message tag')
    .option('--keys <keys>', 'message keys, comma-separated')
    .option('--sharding-key <key>', 'keep messages with this key in order on one queue')
    .option('--count <n>', 'how many copies to send', '1')
    .action(async (flags: SendFlags) => {
      const producer = new Producer({ nameServers: nameServersOf(flags.namesrv), logger: clientCommandLogger() });
      await producer.start();
      try {
        for (let i = 0; i < Number(flags.count); i++) {
          const result = await producer.send({
            topic: flags.topic,
            body: flags.body,
            tags: flags.tags,
            keys: flags.keys?.split(',').filter(Boolean),
            shardingKey: flags.shardingKey,
          });
          printLine(result);
        }
      } finally {
        await producer.close();
      }
    });
}

function view(message: ReceivedMessage): Record<string, unknown> {
  return {
    msgId: message.msgId,
    topic: message.topic,
    queueId: message.queueId,
    queueOffset: message.queueOffset,
    tags: message.tags,
    keys: message.keys,
    properties: message.properties,
    storeTimestamp: message.storeTimestamp,
    body: message.body.toString('utf8'),
  };
}

export function registerConsume(program: Command): void {
  program
    .command('consume')
    .description('consume messages and print them as JSON lines (for trying LiteMQ by hand)')
    .requiredOption('-t, --topic <topic>', 'topic')
    .requiredOption('-g, --group <group>', 'consumer group')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .option('-e, --expression <tags>', "tag expression: '*' or 'a || b'", '*')
    .option('--from <where>', 'where a new group starts: first | last', 'first')
    .option('--count <n>', 'exit after this many messages')
    .option('--broadcast', 'broadcasting: this instance reads every message; its offsets stay in a local file')
    .option('--offset-dir <dir>', 'with --broadcast: directory of the offset files (default ~/.litemq/offsets)')
    .option('--instance-name <name>', 'with --broadcast: stable name of this instance, part of its offset file path (default: the host name)')
    .action(async (flags: ConsumeFlags) => {
      if (!flags.broadcast && (flags.offsetDir !== undefined || flags.instanceName !== undefined)) {
        throw new ServerError(ServerErrorCode.CONFIG_INVALID, '--offset-dir and --instance-name need --broadcast');
      }
      const consumer = new PushConsumer({
        nameServers: nameServersOf(flags.namesrv),
        group: flags.group,
        logger: clientCommandLogger(),
        consumeFromWhere: flags.from === 'last' ? 'LAST_OFFSET' : 'FIRST_OFFSET',
        ...(flags.broadcast ? { messageModel: 'broadcasting' as const, offsetStoreDir: flags.offsetDir, instanceName: flags.instanceName } : {}),
      });
      consumer.subscribe(flags.topic, flags.expression);
      const limit = flags.count === undefined ? Infinity : Number(flags.count);
      let seen = 0;
      const stop = () => void consumer.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await consumer.start();
      for await (const message of consumer) {
        await printLineFlushed(view(message));
        if (++seen >= limit) break;
      }
      await consumer.close();
    });
}
