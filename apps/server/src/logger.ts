import pino from 'pino';
import type { Logger } from 'pino';

/** JSON logs on stdout (one object per line): what log shippers and our process tests read. */
export function createLogger(level: string, name = 'litemq'): Logger {
  return pino({ name, level });
}
