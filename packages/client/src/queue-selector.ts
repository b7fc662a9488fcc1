import type { MessageQueue } from './message-queue.js';
import type { TopicRoute } from './route-cache.js';

/** 32-bit FNV-1a over UTF-16 code units: stable across processes and versions, no allocation. */
export function shardingHash(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Picks the queue a message is sent to: round-robin over the writable queues of every broker of the topic,
 * or `hash(shardingKey) mod queueCount` so one key always lands on the same queue while the route is unchanged.
 */
export class QueueSelector {
  private readonly counters = new WeakMap<TopicRoute, { next: number }>();

  select(route: TopicRoute, shardingKey?: string, avoidBroker?: string): MessageQueue | undefined {
    const queues = route.writeQueues;
    const n = queues.length;
    if (n === 0) return undefined;
    if (shardingKey !== undefined) return queues[shardingHash(shardingKey) % n];
    let cursor = this.counters.get(route);
    if (!cursor) this.counters.set(route, (cursor = { next: Math.floor(Math.random() * n) }));
    let counter = cursor.next;
    let queue = queues[counter % n]!;
    if (avoidBroker !== undefined && queue.brokerName === avoidBroker) {
      for (let i = 1; i < n; i++) {
        const candidate = queues[(counter + i) % n]!;
        if (candidate.brokerName !== avoidBroker) {
          queue = candidate;
          counter += i;
          break;
        }
      }
    }
    cursor.next = (counter + 1) % 0x7fff_ffff;
    return queue;
  }
}
