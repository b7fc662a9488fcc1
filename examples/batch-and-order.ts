// Sends a batch in one frame, then messages that must stay in order per customer (same sharding key →
// same queue). Run: npm run example -- examples/batch-and-order.ts
import { Producer } from '@litemq/client';

const producer = new Producer({ nameServers: [process.env.LITEMQ_NAMESRV ?? '127.0.0.1:9876'] });
await producer.start();
const batch = await producer.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: 'examples', body: `batched ${i}` })));
process.stdout.write(`batch stored at offsets ${batch.map((r) => `${r.queueId}:${r.queueOffset}`).join(' ')}\n`);
for (const step of ['created', 'paid', 'shipped']) {
  const result = await producer.send({ topic: 'examples', body: `customer-7 ${step}`, shardingKey: 'customer-7' });
  process.stdout.write(`customer-7 ${step} → queue ${result.queueId}\n`);
}
await producer.close();
