/** One queue of a topic on one broker (replica set). */
export interface MessageQueue {
  readonly topic: string;
  readonly brokerName: string;
  readonly queueId: number;
}

export function queueKey(queue: MessageQueue): string {
  return `${queue.topic}@${queue.brokerName}@${queue.queueId}`;
}

/** Total order used by rebalancing: topic, then brokerName, then queueId. */
export function compareQueues(a: MessageQueue, b: MessageQueue): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1;
  return a.queueId - b.queueId;
}
