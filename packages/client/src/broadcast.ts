import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { ReceivedMessage } from '@litemq/protocol';
import { invalidOptions } from './errors.js';
import type { ClientLogger } from './logger.js';
import type { LocalOffsetStore } from './local-offset-store.js';
import type { MessageQueue } from './message-queue.js';
import { queueKey } from './message-queue.js';
import type { ProcessQueue } from './process-queue.js';
import type { MaxReconsumeTimesOption } from './retry-message.js';
import { retryLimitOf } from './retry-message.js';

/**
 * How a consumer group shares messages. `clustering`: the group's live members divide the queues, offsets are
 * committed to the brokers. `broadcasting`: every instance reads every queue and keeps its own offsets locally.
 */
export type MessageModel = 'clustering' | 'broadcasting';

/** Retries in place of a failed message in broadcasting mode, when `maxReconsumeTimes` does not say. */
export const DEFAULT_BROADCAST_RETRIES = 3;

/** Default directory of broadcasting offset files: `~/.litemq/offsets`. */
export function defaultOffsetStoreDir(): string {
  return join(homedir(), '.litemq', 'offsets');
}

const INSTANCE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * Default instance name: the host name (characters other than letters, digits, `.`, `_` and `-` replaced by
 * `_`). It is stable across restarts of a process on the same machine (or a pod with a stable name); two
 * broadcasting instances of one group on one host need distinct `instanceName`s or `offsetStoreDir`s.
 */
export function defaultInstanceName(): string {
  const name = hostname().replace(/[^A-Za-z0-9._-]/g, '_');
  return name === '' || name === '.' || name === '..' ? 'localhost' : name;
}

export interface BroadcastSettings {
  instanceName: string;
  /** `<offsetStoreDir>/<instanceName>/<group>.json` */
  offsetFile: string;
}

/** Checks the messageModel-related options; returns the broadcasting settings, or undefined for clustering. */
export function broadcastSettingsOf(
  group: string,
  options: { messageModel?: MessageModel; offsetStoreDir?: string; instanceName?: string; retryMode?: string },
): BroadcastSettings | undefined {
  const model = options.messageModel ?? 'clustering';
  if (model !== 'clustering' && model !== 'broadcasting') throw invalidOptions(`messageModel must be 'clustering' or 'broadcasting', got ${JSON.stringify(model)}`);
  if (options.instanceName !== undefined) {
    const name = options.instanceName;
    if (typeof name !== 'string' || !INSTANCE_NAME.test(name) || name === '.' || name === '..' || name.length > 255) {
      throw invalidOptions(`instanceName may only contain letters, digits, '.', '_' and '-' (at most 255), got ${JSON.stringify(name)}`);
    }
  }
  if (options.offsetStoreDir !== undefined && (typeof options.offsetStoreDir !== 'string' || options.offsetStoreDir === '')) {
    throw invalidOptions('offsetStoreDir must be a non-empty path');
  }
  if (model === 'clustering') {
    if (options.offsetStoreDir !== undefined) throw invalidOptions(`offsetStoreDir applies to messageModel 'broadcasting' only`);
    return undefined;
  }
  if (options.retryMode !== undefined) {
    throw invalidOptions(`retryMode applies to messageModel 'clustering' only; broadcasting retries a failed message in place, then skips it`);
  }
  const instanceName = options.instanceName ?? defaultInstanceName();
  const dir = resolve(options.offsetStoreDir ?? defaultOffsetStoreDir());
  return { instanceName, offsetFile: join(dir, instanceName, `${group}.json`) };
}

/**
 * Broadcasting: makes sure a newly assigned queue's start position is in the file before its first pull. A position
 * taken from consumeFromWhere that was only written at the first commit would be lost by a crash before it, and
 * resolved again at the restart: with LAST_OFFSET or TIMESTAMP the messages in between would be skipped. A queue
 * resumed from the file writes nothing. Returns false (logged) when the file cannot be written: the queue is not
 * started then, the next rebalance tries again.
 */
export async function persistStartOffset(store: LocalOffsetStore, queue: MessageQueue, offset: number, logger: ClientLogger): Promise<boolean> {
  if (!store.has(queue)) store.update(queue, offset);
  try {
    await store.persist(); // writes only if something is not written yet
    return true;
  } catch (error) {
    logger.warn({ queue: queueKey(queue), offset, err: error }, 'broadcast: cannot write the start offset; will retry at the next rebalance');
    return false;
  }
}

/**
 * Broadcasting commit: records in the local store the committable offset of every queue that moved (or that has
 * no stored offset yet), then writes the file. `lastCommitted` moves only once the file is written.
 */
export async function commitLocally(store: LocalOffsetStore, queues: Iterable<ProcessQueue>): Promise<void> {
  const changed: Array<[ProcessQueue, number]> = [];
  for (const pq of queues) {
    const offset = pq.consumedOffset();
    if (offset < 0 || (offset === pq.lastCommitted && store.has(pq.queue))) continue;
    store.update(pq.queue, offset);
    changed.push([pq, offset]);
  }
  await store.persist();
  for (const [pq, offset] of changed) pq.lastCommitted = offset;
}

/**
 * Broadcasting failure policy: a failed message is retried in place (the consumer's redelivery backoff: 1 s,
 * 2 s, 4 s...) up to its limit, then logged and skipped: it is never sent back to a broker, since a retry topic
 * is shared by the group while each broadcasting instance must retry only for itself. The limit is the
 * message's `$maxReconsumeTimes`, else `maxReconsumeTimes` (number or function), else 3.
 * Returns true when the message must be skipped now.
 */
export function broadcastGivesUp(
  message: ReceivedMessage,
  failures: number,
  maxReconsumeTimes: MaxReconsumeTimesOption | undefined,
  error: unknown,
  logger: ClientLogger,
  where: { queue: string; offset: number },
): boolean {
  // Never throws (an undecodable property or a throwing function falls back to the default): see retryLimitOf.
  const limit = retryLimitOf(message, maxReconsumeTimes, { ownFirst: true, logger, where }) ?? DEFAULT_BROADCAST_RETRIES;
  if (failures <= limit) return false;
  logger.error({ ...where, msgId: message.msgId, failures, err: error }, 'broadcast: message processing failed after its retries; skipping it');
  return true;
}
