/** Structured logger the client writes to; a pino logger fits as is. Defaults to silent. */
export interface ClientLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

const noop = (): void => undefined;
export const silentClientLogger: ClientLogger = { debug: noop, info: noop, warn: noop, error: noop };
