import type { CronJobInput } from '@litemq/delay';
import { DelayError, DelayErrorCode } from '@litemq/delay';
import type {
  CancelScheduledResponseHeader, CronDeleteResponseHeader, CronJobResponseHeader, CronListResponseHeader, CronNextResponseHeader, CronPutResponseHeader, Frame,
  RpcHandler, RpcReply,
} from '@litemq/protocol';
import { ResponseCode, rpcFailure, validateTopicName } from '@litemq/protocol';
import type { BrokerContext } from '../broker-context.js';
import { delayOf } from '../delay-service.js';
import { intField, optionalIntField, stringField } from '../request-fields.js';

/** Maps a DelayError to an error response naming the problem. */
function delayFailure(error: unknown): unknown {
  if (!(error instanceof DelayError)) return error;
  const code = error.code === DelayErrorCode.CLOSED ? ResponseCode.SERVICE_NOT_AVAILABLE : ResponseCode.INVALID_REQUEST;
  return rpcFailure(code, error.message, error.code);
}

function guarded(handler: (frame: Frame) => Promise<RpcReply> | RpcReply): RpcHandler {
  return async (frame) => {
    try {
      return await handler(frame);
    } catch (error) {
      throw delayFailure(error);
    }
  };
}

/** CANCEL_SCHEDULED: cancels a delayed message before it fires. */
export function cancelScheduledProcessor(context: BrokerContext): RpcHandler {
  return guarded(async (frame) => {
    const msgId = stringField(frame.header, 'msgId').toLowerCase();
    const { deliverAt } = await delayOf(context).cancel(msgId);
    const header: CancelScheduledResponseHeader = { msgId, deliverAt };
    return { code: ResponseCode.SUCCESS, header };
  });
}

/** CRON_PUT: creates or replaces a job. */
export function cronPutProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const job = frame.header.job;
    if (typeof job !== 'object' || job === null || Array.isArray(job)) throw rpcFailure(ResponseCode.INVALID_REQUEST, 'header field job must be a cron job object');
    const input = job as unknown as CronJobInput;
    if (typeof input.topic === 'string') {
      try {
        validateTopicName(input.topic);
      } catch (error) {
        throw rpcFailure(ResponseCode.INVALID_REQUEST, `cron job ${String(input.id)}: ${(error as Error).message}`, DelayErrorCode.CRON_INVALID);
      }
    }
    const service = delayOf(context);
    const stored = service.scheduler.put(input);
    const header: CronPutResponseHeader = { job: service.jobInfo(stored, service.scheduler.next(stored.id, 1)[0]) };
    return { code: ResponseCode.SUCCESS, header };
  });
}

export function cronDeleteProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const header: CronDeleteResponseHeader = { deleted: delayOf(context).scheduler.delete(stringField(frame.header, 'id')) };
    return { code: ResponseCode.SUCCESS, header };
  });
}

export function cronPauseProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const service = delayOf(context);
    const header: CronJobResponseHeader = { job: service.jobInfo(service.scheduler.pause(stringField(frame.header, 'id'))) };
    return { code: ResponseCode.SUCCESS, header };
  });
}

export function cronResumeProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const service = delayOf(context);
    const job = service.scheduler.resume(stringField(frame.header, 'id'));
    const header: CronJobResponseHeader = { job: service.jobInfo(job, service.scheduler.next(job.id, 1)[0]) };
    return { code: ResponseCode.SUCCESS, header };
  });
}

export function cronListProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const service = delayOf(context);
    const offset = optionalIntField(frame.header, 'offset', 0);
    const limit = optionalIntField(frame.header, 'limit', 1_000, 1, 10_000);
    const { jobs, total } = service.scheduler.list({ offset, limit });
    const header: CronListResponseHeader = { jobs: jobs.map((job) => service.jobInfo(job, job.nextAt)), total };
    return { code: ResponseCode.SUCCESS, header };
  });
}

export function cronNextProcessor(context: BrokerContext): RpcHandler {
  return guarded((frame) => {
    const header: CronNextResponseHeader = { times: delayOf(context).scheduler.next(stringField(frame.header, 'id'), intField(frame.header, 'count', 1, 1_000)) };
    return { code: ResponseCode.SUCCESS, header };
  });
}
