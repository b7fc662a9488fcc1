import type { Command } from 'commander';
import { Admin } from '@litemq/client';

interface TxnFlags {
  namesrv: string;
  limit?: string;
  group?: string;
  topic?: string;
  broker?: string;
}

function nameServersOf(flag: string): string[] {
  return flag.split(',').map((address) => address.trim()).filter(Boolean);
}

/** Printing is this command's purpose: one JSON line per result on stdout. */
function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function withAdmin(flags: TxnFlags, work: (admin: Admin) => Promise<void>): Promise<void> {
  const admin = new Admin({ nameServers: nameServersOf(flags.namesrv) });
  try {
    await work(admin);
  } finally {
    await admin.close();
  }
}

/** `litemq txn list|commit|rollback`: pending transactions and operator resolution. */
export function registerTxn(program: Command): void {
  const txn = program.command('txn').description('transactional messages: list pending transactions, commit or roll them back');
  txn
    .command('list')
    .description('pending transactions of every broker master, oldest first (one JSON line each, then a summary)')
    .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
    .option('--limit <n>', 'most transactions per broker (1-1000)', '100')
    .option('-g, --group <producerGroup>', 'only this producer group')
    .option('-t, --topic <topic>', 'only this topic')
    .action((flags: TxnFlags) =>
      withAdmin(flags, async (admin) => {
        const { total, transactions } = await admin.listPendingTransactions({ limit: Number(flags.limit), producerGroup: flags.group, topic: flags.topic });
        for (const transaction of transactions) print(transaction);
        print({ total, shown: transactions.length });
      }),
    );
  for (const resolution of ['commit', 'rollback'] as const) {
    txn
      .command(`${resolution} <msgId>`)
      .description(`${resolution} a pending transaction by the message id \`txn list\` shows`)
      .option('-n, --namesrv <addresses>', 'NameServer addresses, comma-separated', '127.0.0.1:9876')
      .option('-b, --broker <brokerName>', 'only ask this broker')
      .action((msgId: string, flags: TxnFlags) =>
        withAdmin(flags, async (admin) => {
          const options = { brokerName: flags.broker };
          print(resolution === 'commit' ? await admin.commitTransaction(msgId, options) : await admin.rollbackTransaction(msgId, options));
        }),
      );
  }
}
