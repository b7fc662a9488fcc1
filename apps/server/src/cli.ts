import { Command, CommanderError } from 'commander';
import { LiteMQError } from '@litemq/protocol';
import { registerConsume, registerSend } from './commands/client-commands.js';
import { registerCron } from './commands/cron-commands.js';
import { registerBroker, registerNameServer, registerStandalone } from './commands/server-commands.js';
import { registerTxn } from './commands/txn-commands.js';
import { registerDlq } from './commands/dlq-commands.js';
import { registerOffset } from './commands/offset-commands.js';

const program = new Command('litemq')
  .description('LiteMQ: a lightweight RocketMQ-style message queue')
  .showHelpAfterError()
  .exitOverride();

registerStandalone(program);
registerNameServer(program);
registerBroker(program);
registerSend(program);
registerConsume(program);
registerCron(program);
registerTxn(program);
registerDlq(program);
registerOffset(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  // Startup errors (bad config, port in use, locked data dir) end the process with a clear one-line reason.
  const code = error instanceof LiteMQError ? `${error.code}: ` : '';
  process.stderr.write(`litemq: ${code}${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
