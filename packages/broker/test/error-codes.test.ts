import { describe, expect, it } from 'vitest';
import { RequestCode, ResponseCode, TopicPerm } from '@litemq/protocol';
import { BrokerErrorCode } from '../src/index.js';
import { client, startBroker } from './helpers.js';

describe('broker error codes', () => {
  it('answers with the stable codes of BrokerErrorCode', async () => {
    // Stable: clients match these strings.
    expect(BrokerErrorCode).toMatchObject({
      MESSAGE_NOT_FOUND: 'MESSAGE_NOT_FOUND', DLQ_MESSAGE_NOT_FOUND: 'DLQ_MESSAGE_NOT_FOUND', RECEIPT_HANDLE_INVALID: 'RECEIPT_HANDLE_INVALID',
      CONSUMER_GROUP_LIMIT: 'CONSUMER_GROUP_LIMIT', HEARTBEAT_TOO_MANY_GROUPS: 'HEARTBEAT_TOO_MANY_GROUPS',
    });
    const broker = await startBroker();
    await broker.topics.put({ topic: 'jobs', readQueueNums: 1, writeQueueNums: 1, perm: TopicPerm.READ_WRITE });
    const rpc = client();
    const cases = [
      [RequestCode.ACK_MESSAGE, { group: 'g', handle: 'nonsense' }, BrokerErrorCode.RECEIPT_HANDLE_INVALID],
      [RequestCode.DLQ_GET, { group: 'g', msgId: '0'.repeat(32) }, BrokerErrorCode.DLQ_MESSAGE_NOT_FOUND],
      [RequestCode.CONSUMER_SEND_BACK, { group: 'g', commitLogOffset: 0, msgId: '0'.repeat(32), failureReason: 'x' }, BrokerErrorCode.MESSAGE_NOT_FOUND],
    ] as const;
    for (const [code, header, errorCode] of cases) {
      const reply = await rpc.request(broker.address, code, header);
      expect(reply.code, errorCode).toBe(ResponseCode.INVALID_REQUEST);
      expect(reply.header.errorCode).toBe(errorCode);
    }
  });
});
