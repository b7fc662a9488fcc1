// Sends ten messages to the standalone broker (start it with `npx nx serve broker`).
// Run: npm run example -- examples/produce.ts
import { Producer } from '@litemq/client';

const producer = new Producer({ nameServers: [process.env.LITEMQ_NAMESRV ?? '127.0.0.1:9876'] });
await producer.start();
for (let i = 0; i < 10; i++) {
  const result = await producer.send({ topic: 'examples', body: `order ${i}`, tags: i % 2 ? 'paid' : 'created', keys: [`order-${i}`] });
  process.stdout.write(`sent ${result.msgId} to queue ${result.queueId} at offset ${result.queueOffset}\n`);
}
await producer.close();
