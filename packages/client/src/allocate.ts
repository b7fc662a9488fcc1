import type { MessageQueue } from './message-queue.js';
import { compareQueues } from './message-queue.js';

/**
 * Averaging allocation (RocketMQ AllocateMessageQueueAveragely): with queues and client ids sorted the same
 * way on every client, client i takes a contiguous block; the first `queues % clients` clients take one more.
 * Returns [] when `clientId` is not a member.
 */
export function allocateAveragely(queues: readonly MessageQueue[], clientIds: readonly string[], clientId: string): MessageQueue[] {
  const sortedQueues = [...queues].sort(compareQueues);
  const sortedClients = [...new Set(clientIds)].sort();
  const index = sortedClients.indexOf(clientId);
  if (index < 0 || sortedQueues.length === 0) return [];
  const clients = sortedClients.length;
  const total = sortedQueues.length;
  const mod = total % clients;
  const size = total <= clients ? 1 : mod > 0 && index < mod ? Math.floor(total / clients) + 1 : Math.floor(total / clients);
  const start = mod > 0 && index < mod ? index * size : index * size + mod;
  const range = Math.min(size, total - start);
  const result: MessageQueue[] = [];
  for (let i = 0; i < range; i++) result.push(sortedQueues[(start + i) % total]!);
  return result;
}
