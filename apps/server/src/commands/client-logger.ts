import pino from 'pino';
import type { Logger } from 'pino';

/**
 * Logs of the client commands go to stderr so stdout stays one JSON result per line. Level from
 * `LITEMQ_LOG_LEVEL` (default `warn`): `debug` shows rebalances and pulls when diagnosing a consumer.
 */
export function clientCommandLogger(): Logger {
  return pino({ name: 'litemq-client', level: process.env.LITEMQ_LOG_LEVEL ?? 'warn' }, pino.destination(2));
}
