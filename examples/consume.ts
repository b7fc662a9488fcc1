// Consumes the `examples` topic from the beginning and stops after ten messages (or Ctrl-C).
// Run: npm run example -- examples/consume.ts
import { PushConsumer } from '@litemq/client';

const consumer = new PushConsumer({
  nameServers: [process.env.LITEMQ_NAMESRV ?? '127.0.0.1:9876'],
  group: 'examples-reader',
  consumeFromWhere: 'FIRST_OFFSET',
});
consumer.subscribe('examples', '*');
await consumer.start();
let seen = 0;
for await (const message of consumer) {
  process.stdout.write(`${message.tags ?? '-'} ${message.keys.join(',')} ${message.body.toString()}\n`);
  if (++seen === 10) break;
}
await consumer.close();
