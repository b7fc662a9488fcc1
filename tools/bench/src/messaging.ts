// Shared pieces of the end-to-end messaging benchmarks (client side; the server runs in its own process).
import { Admin, Producer } from '@litemq/client';
import type { Message } from '@litemq/client';

export const QUEUES = 8;

/** Creates `topic` with `queueNums` queues on every broker of the NameServer ("litemq ready" means registered). */
export async function createTopic(nameServer: string, topic: string, queueNums = QUEUES): Promise<void> {
  const admin = new Admin({ nameServers: [nameServer] });
  try {
    await admin.createTopic(topic, { queueNums });
  } finally {
    await admin.close();
  }
}

export function newProducer(nameServer: string): Producer {
  return new Producer({ nameServers: [nameServer], group: 'bench-producer' });
}

/**
 * Sends `count` messages keeping `inFlight` `send()` calls outstanding (each acknowledged send starts the
 * next one), and resolves once every send was acknowledged. Rejects on the first failed send.
 */
export function sendAll(producer: Producer, message: Message, count: number, inFlight: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let acked = 0;
    let failed = false;
    const onAck = (): void => {
      acked++;
      if (started < count) {
        started++;
        producer.send(message).then(onAck, onError);
      } else if (acked === count) resolve();
    };
    const onError = (error: unknown): void => {
      if (failed) return;
      failed = true;
      reject(error as Error);
    };
    const first = Math.min(inFlight, count);
    for (; started < first; ) {
      started++;
      producer.send(message).then(onAck, onError);
    }
    if (count === 0) resolve();
  });
}
