import { LiteMQError, ProtocolError, RemoteError } from './errors.js';
import type { Frame, FrameBodyInput, FrameHeader } from './frame.js';
import { ResponseCode, isRetriableResponse, responseCodeName } from './response-code.js';

/** What a request handler answers with. */
export interface RpcReply {
  /** Default SUCCESS. */
  code?: number;
  header?: FrameHeader;
  body?: FrameBodyInput;
}

/** Header of every error response: a human message and the precise error code behind it. */
export type ErrorResponseHeader = { error: string; errorCode: string };

/** An error a handler throws to answer with `responseCode`, e.g. `rpcFailure(ResponseCode.TOPIC_NOT_EXIST, ...)`. */
export function rpcFailure(responseCode: number, message: string, errorCode: string = responseCodeName(responseCode)): RemoteError {
  return new RemoteError(errorCode, responseCode, message, isRetriableResponse(responseCode));
}

/** Maps anything a handler threw to an error response. */
export function errorReply(error: unknown): RpcReply {
  if (error instanceof RemoteError) {
    return { code: error.responseCode, header: { error: error.message, errorCode: error.code } };
  }
  if (error instanceof ProtocolError) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, header: { error: error.message, errorCode: error.code } };
  }
  if (error instanceof LiteMQError) {
    const code = error.retriable ? ResponseCode.SYSTEM_BUSY : ResponseCode.SYSTEM_ERROR;
    return { code, header: { error: error.message, errorCode: error.code } };
  }
  return { code: ResponseCode.SYSTEM_ERROR, header: { error: error instanceof Error ? error.message : String(error), errorCode: 'SYSTEM_ERROR' } };
}

/** The RemoteError a non-success response stands for. */
export function remoteErrorOf(frame: Frame): RemoteError {
  const message = typeof frame.header.error === 'string' ? frame.header.error : responseCodeName(frame.code);
  const errorCode = typeof frame.header.errorCode === 'string' ? frame.header.errorCode : responseCodeName(frame.code);
  return new RemoteError(errorCode, frame.code, message, isRetriableResponse(frame.code));
}

/** Returns the frame if it is a SUCCESS response, otherwise throws its RemoteError. */
export function expectSuccess(frame: Frame): Frame {
  if (frame.code !== ResponseCode.SUCCESS) throw remoteErrorOf(frame);
  return frame;
}
