import { MSG_ID_BYTES } from '@litemq/protocol';
import { hashBytes } from './hash.js';

/**
 * Index hashes. Ids and keys share one hash space; a leading kind byte keeps an id from colliding with
 * a key by construction, and the topic is part of a key's hash because keys are looked up per topic.
 */
const ID_KIND = Uint8Array.of(1);
const KEY_KIND = Uint8Array.of(2);
const SEPARATOR = Uint8Array.of(0);

export function messageIdHashAt(buf: Uint8Array, at: number): number {
  return hashBytes(buf, at, at + MSG_ID_BYTES, hashBytes(ID_KIND, 0, 1));
}

export function keyHashAt(buf: Uint8Array, topicStart: number, topicEnd: number, keyStart: number, keyEnd: number): number {
  let hash = hashBytes(KEY_KIND, 0, 1);
  hash = hashBytes(buf, topicStart, topicEnd, hash);
  hash = hashBytes(SEPARATOR, 0, 1, hash);
  return hashBytes(buf, keyStart, keyEnd, hash);
}

export function keyHash(topic: string, key: string): number {
  const topicBytes = Buffer.from(topic, 'latin1');
  const keyBytes = Buffer.from(key, 'utf8');
  const joined = Buffer.concat([topicBytes, keyBytes]);
  return keyHashAt(joined, 0, topicBytes.length, topicBytes.length, joined.length);
}
