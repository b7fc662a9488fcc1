import type { BrokerLiveInfo, Frame, FrameHeader, ResetOffsetEntry, ResetOffsetRequestHeader, ResetOffsetResponseHeader } from '@litemq/protocol';
import { RemoteError, RequestCode, ResponseCode, validateGroupName, validateTopicName } from '@litemq/protocol';
import { invalidOptions } from './errors.js';

export interface ResetOffsetsOptions {
  /** `earliest`, `latest`, or a time (ms since epoch or a Date): the first message stored at or after it. */
  to: 'earliest' | 'latest' | number | Date;
  /** Only this topic. Default: every topic the group has offsets for or subscribes to (retry topic excluded). */
  topic?: string;
  signal?: AbortSignal;
}

export interface ResetOffsetsResult {
  group: string;
  queues: Array<ResetOffsetEntry & { brokerName: string }>;
  /** Connected consumers told to re-read their offsets. */
  notifiedClients: number;
}

interface Brokers {
  masters(signal?: AbortSignal): Promise<BrokerLiveInfo[]>;
  brokerRequest(address: string, code: number, header: FrameHeader, signal?: AbortSignal): Promise<Frame>;
}

/** RESET_OFFSET on every broker master (a broker without the topic is skipped when a topic is named). */
export async function resetOffsets(brokers: Brokers, group: string, options: ResetOffsetsOptions): Promise<ResetOffsetsResult> {
  validateGroupName(group);
  if (typeof options !== 'object' || options === null) throw invalidOptions('resetOffsets options are required');
  if (options.topic !== undefined) validateTopicName(options.topic);
  const { to } = options;
  let header: ResetOffsetRequestHeader;
  if (to === 'earliest') header = { group, target: 'EARLIEST' };
  else if (to === 'latest') header = { group, target: 'LATEST' };
  else {
    const timestamp = to instanceof Date ? to.getTime() : to;
    if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) throw invalidOptions(`to must be 'earliest', 'latest' or a time, got ${String(to)}`);
    header = { group, target: 'TIMESTAMP', timestamp };
  }
  if (options.topic !== undefined) header.topic = options.topic;
  const result: ResetOffsetsResult = { group, queues: [], notifiedClients: 0 };
  let found = false;
  for (const broker of await brokers.masters(options.signal)) {
    let frame: Frame;
    try {
      frame = await brokers.brokerRequest(broker.brokerAddr, RequestCode.RESET_OFFSET, header as unknown as FrameHeader, options.signal);
    } catch (error) {
      if (options.topic !== undefined && error instanceof RemoteError && error.responseCode === ResponseCode.TOPIC_NOT_EXIST) continue;
      throw error;
    }
    found = true;
    const reply = frame.header as unknown as ResetOffsetResponseHeader;
    for (const entry of reply.offsets) result.queues.push({ ...entry, brokerName: broker.brokerName });
    result.notifiedClients += reply.notifiedClients;
  }
  if (!found && options.topic !== undefined) throw invalidOptions(`topic ${options.topic} exists on no broker master`);
  return result;
}
