// Pop consumption: receives the `examples` topic from the first offset, acknowledges each message, and stops
// after ten. A message not acknowledged within its invisible time (30 s here) would be delivered again.
// Run: npm run example -- examples/simple-consumer.ts
import { SimpleConsumer } from '@litemq/client';

const consumer = new SimpleConsumer({
  nameServers: [process.env.LITEMQ_NAMESRV ?? '127.0.0.1:9876'],
  group: 'examples-workers',
  consumeFromWhere: 'FIRST_OFFSET',
  awaitDurationMs: 5_000,
});
consumer.subscribe('examples', '*');
await consumer.start();
let done = 0;
while (done < 10) {
  for (const message of await consumer.receive(4, 30_000)) {
    process.stdout.write(`attempt ${message.deliveryAttempt} ${message.body.toString()}\n`);
    await consumer.ack(message);
    done++;
  }
}
await consumer.close();
