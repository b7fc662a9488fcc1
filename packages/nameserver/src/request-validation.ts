import type { FrameHeader, GetRouteRequestHeader, RegisterBrokerRequestHeader, TopicConfig, UnregisterBrokerRequestHeader } from '@litemq/protocol';
import { MAX_NAME_LENGTH, ResponseCode, isLiteMQError, rpcFailure, splitHostPort, validateTopicName } from '@litemq/protocol';
import { MAX_QUEUE_NUMS } from './options.js';

/** Cluster and broker names: letters, digits, `.`, `-` and `_`. */
const SERVER_NAME = /^[A-Za-z0-9._-]+$/;

function invalid(message: string): never {
  throw rpcFailure(ResponseCode.INVALID_REQUEST, message);
}

function field(header: FrameHeader, name: string): unknown {
  return header[name];
}

function serverName(header: FrameHeader, name: string): string {
  const value = field(header, name);
  if (typeof value !== 'string' || value.length === 0) invalid(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  if (value.length > MAX_NAME_LENGTH) invalid(`${name} is ${value.length} characters long; the maximum is ${MAX_NAME_LENGTH}`);
  if (!SERVER_NAME.test(value)) invalid(`${name} ${JSON.stringify(value)} may only contain letters, digits, '.', '-' and '_'`);
  return value;
}

function integer(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer in [${min}, ${max}], got ${typeof value === 'bigint' ? String(value) : JSON.stringify(value)}`);
  }
  return value;
}

function address(value: unknown, name: string, allowEmpty: boolean): string {
  if (typeof value !== 'string') invalid(`${name} must be a "host:port" string, got ${JSON.stringify(value)}`);
  if (allowEmpty && value === '') return value;
  try {
    splitHostPort(value);
  } catch {
    invalid(`${name} must be a "host:port" string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a topic name (system names such as `%RETRY%group` allowed), answering INVALID_REQUEST. */
export function checkTopicName(value: unknown, name = 'topic'): string {
  try {
    validateTopicName(value, { allowSystem: true });
  } catch (error) {
    invalid(`${name}: ${isLiteMQError(error) ? error.message : String(error)}`);
  }
  return value;
}

function topicConfig(value: unknown, index: number): TopicConfig {
  const at = `topics[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    invalid(`${at} must be a map {topic, readQueueNums, writeQueueNums, perm}`);
  }
  const config = value as FrameHeader;
  return {
    topic: checkTopicName(config.topic, `${at}.topic`),
    readQueueNums: integer(config.readQueueNums, `${at}.readQueueNums`, 0, MAX_QUEUE_NUMS),
    writeQueueNums: integer(config.writeQueueNums, `${at}.writeQueueNums`, 0, MAX_QUEUE_NUMS),
    perm: integer(config.perm, `${at}.perm`, 0, 7),
  };
}

/** Validates a REGISTER_BROKER header; throws an INVALID_REQUEST RemoteError naming the first bad field. */
export function parseRegisterBrokerRequest(header: FrameHeader): RegisterBrokerRequestHeader {
  const clusterName = serverName(header, 'clusterName');
  const brokerName = serverName(header, 'brokerName');
  const brokerId = integer(field(header, 'brokerId'), 'brokerId', 0);
  const brokerAddr = address(field(header, 'brokerAddr'), 'brokerAddr', false);
  const haAddrValue = field(header, 'haAddr');
  const haAddr = haAddrValue === undefined || haAddrValue === null ? '' : address(haAddrValue, 'haAddr', true);
  const dataVersion = integer(field(header, 'dataVersion'), 'dataVersion', 0);
  const autoCreateTopic = field(header, 'autoCreateTopic');
  if (typeof autoCreateTopic !== 'boolean') invalid(`autoCreateTopic must be a boolean, got ${JSON.stringify(autoCreateTopic)}`);
  const topicsValue = field(header, 'topics');
  if (!Array.isArray(topicsValue)) invalid(`topics must be an array of topic configs, got ${JSON.stringify(topicsValue)}`);
  const topics = (topicsValue as readonly unknown[]).map(topicConfig);
  const seen = new Set<string>();
  for (const config of topics) {
    if (seen.has(config.topic)) invalid(`topic ${JSON.stringify(config.topic)} appears more than once in topics`);
    seen.add(config.topic);
  }
  return { clusterName, brokerName, brokerId, brokerAddr, haAddr, dataVersion, autoCreateTopic, topics };
}

/** Validates an UNREGISTER_BROKER header; throws an INVALID_REQUEST RemoteError naming the first bad field. */
export function parseUnregisterBrokerRequest(header: FrameHeader): UnregisterBrokerRequestHeader {
  return {
    clusterName: serverName(header, 'clusterName'),
    brokerName: serverName(header, 'brokerName'),
    brokerId: integer(field(header, 'brokerId'), 'brokerId', 0),
    brokerAddr: address(field(header, 'brokerAddr'), 'brokerAddr', false),
  };
}

/** Validates a GET_ROUTE header; throws an INVALID_REQUEST RemoteError for a missing or invalid topic. */
export function parseGetRouteRequest(header: FrameHeader): GetRouteRequestHeader {
  return { topic: checkTopicName(field(header, 'topic')) };
}
