import type { ReceivedMessage } from '@litemq/protocol';
import { SystemProperty, decodeRecord, encodeRecord } from '@litemq/protocol';
import { TIMER_TOPIC } from './delay-service.js';

/**
 * System topic the invisibility checkpoints of popped messages are delivered to when their invisible time ends
 * (queue 0). Never routed: only the broker's PopReviver reads it.
 */
export const POP_REVIVE_TOPIC = '%POP_REVIVE%';

/**
 * What the broker remembers of one popped message, stored as the JSON body of its checkpoint record (a
 * delayed record for `%POP_REVIVE%`, so it waits in the timer store until the message's invisible time ends).
 */
export interface PopCheckpoint {
  /** Consumer group that popped the message. */
  group: string;
  /** Topic and queue it was popped from (the original topic, or `%RETRY%<group>`). */
  topic: string;
  queueId: number;
  queueOffset: number;
  /** Where the popped record is in the commit log, and its id (checked before a redelivery). */
  commitLogOffset: number;
  msgId: string;
  /** maxReconsumeTimes asked for by the pop, if any. */
  maxReconsumeTimes: number | undefined;
  /** The invisible time this checkpoint waits for, in ms. */
  invisibleMs: number;
}

type CheckpointBody = { v: 1; g: string; t: string; q: number; o: number; c: number; m: string; x?: number; i: number };

/** The checkpoint record of a popped message: deliverAt = the end of its invisible time, id = the checkpoint id. */
export function encodeCheckpoint(checkpoint: PopCheckpoint, checkpointId: Buffer, invisibleUntil: number): Buffer {
  const body: CheckpointBody = {
    v: 1, g: checkpoint.group, t: checkpoint.topic, q: checkpoint.queueId, o: checkpoint.queueOffset, c: checkpoint.commitLogOffset, m: checkpoint.msgId,
    i: checkpoint.invisibleMs, ...(checkpoint.maxReconsumeTimes === undefined ? {} : { x: checkpoint.maxReconsumeTimes }),
  };
  return encodeRecord({ topic: POP_REVIVE_TOPIC, body: JSON.stringify(body), deliverAt: invisibleUntil }, { allowSystemTopic: true, msgId: checkpointId });
}

/** The checkpoint in a record's body, or undefined when the body is not one. */
export function parseCheckpoint(body: Buffer): PopCheckpoint | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const ck = value as Partial<CheckpointBody>;
  if (ck.v !== 1 || typeof ck.g !== 'string' || typeof ck.t !== 'string' || typeof ck.m !== 'string') return undefined;
  if (![ck.q, ck.o, ck.c, ck.i].every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) return undefined;
  return {
    group: ck.g, topic: ck.t, queueId: ck.q!, queueOffset: ck.o!, commitLogOffset: ck.c!, msgId: ck.m, invisibleMs: ck.i!,
    maxReconsumeTimes: Number.isSafeInteger(ck.x) ? ck.x : undefined,
  };
}

/** A checkpoint as stored: waiting in `%TIMER%`, or already due in `%POP_REVIVE%`. */
export interface StoredCheckpoint {
  checkpoint: PopCheckpoint;
  invisibleUntil: number;
}

/** The checkpoint stored in `record` if it is the checkpoint record `checkpointId`, else undefined. */
export function storedCheckpoint(record: Buffer, checkpointId: string): StoredCheckpoint | undefined {
  let message: ReceivedMessage;
  try {
    message = decodeRecord(record);
  } catch {
    return undefined;
  }
  if (message.msgId !== checkpointId) return undefined;
  const system = message.systemProperties;
  const waiting = message.topic === TIMER_TOPIC && system[SystemProperty.ORIGIN_TOPIC] === POP_REVIVE_TOPIC;
  if (!waiting && message.topic !== POP_REVIVE_TOPIC) return undefined;
  // Waiting: `$deliverAt`; delivered to %POP_REVIVE%: `$scheduledAt` (or `$deliverAt` when it was due at once).
  const invisibleUntil = Number(system[SystemProperty.DELIVER_AT] ?? system[SystemProperty.SCHEDULED_AT]);
  const checkpoint = parseCheckpoint(message.body);
  if (!checkpoint || !Number.isSafeInteger(invisibleUntil)) return undefined;
  return { checkpoint, invisibleUntil };
}
