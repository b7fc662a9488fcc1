import { ResponseCode, rpcFailure } from '@litemq/protocol';
import type { BrokerContext } from './broker-context.js';

/**
 * Per-broker services (delay, retry, pop) opened at startup and looked up by the processors; a broker without
 * the service answers SERVICE_NOT_AVAILABLE with `unavailable` as the message.
 */
export class ContextServices<T> {
  private readonly services = new WeakMap<BrokerContext, T>();

  constructor(private readonly unavailable: string) {}

  register(context: BrokerContext, service: T): T {
    this.services.set(context, service);
    return service;
  }

  of(context: BrokerContext): T {
    const service = this.services.get(context);
    if (!service) throw rpcFailure(ResponseCode.SERVICE_NOT_AVAILABLE, this.unavailable);
    return service;
  }
}
