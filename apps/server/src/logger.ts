import pino from 'pino';
import type { Logger } from 'pino';

/** JSON logs on stdout (one object per line): what log shippers and our process tests read. */
export function createLogger(level: string, name = 'litemq'): Logger {
  return pino({ name, level });
}

/**
 * The readiness line is printed whatever the log level: supervisors and tests wait for it. It is a JSON
 * line like every other log line, with msg "litemq ready" and the addresses the servers listen on.
 */
export function announceReady(fields: Record<string, unknown>): void {
  pino({ name: 'litemq', level: 'info' }).info(fields, 'litemq ready');
}
