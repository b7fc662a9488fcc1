import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { abortedError, invalidOptions } from './errors.js';

/** Client instance id sent in heartbeats: `${hostname}@${pid}@${random}`. */
export function createClientId(): string {
  return `${hostname()}@${process.pid}@${randomBytes(4).toString('hex')}`;
}

/** Resolves after `ms`, or rejects with ABORTED as soon as `signal` fires. One timer per call. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function checkInteger(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOptions(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  return value;
}

export function checkNameServers(nameServers: unknown): string[] {
  if (!Array.isArray(nameServers) || nameServers.length === 0 || !nameServers.every((s) => typeof s === 'string' && /^.+:\d{1,5}$/.test(s))) {
    throw invalidOptions('nameServers must be a non-empty array of "host:port" strings');
  }
  return [...(nameServers as string[])];
}

/** A deduplicating guard: runs `task` unless one is already running, in which case it reruns once afterwards. */
export class SerialTrigger {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(private readonly task: () => Promise<void>) {}

  trigger(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.task();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves once no run is in progress. */
  async idle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }
}

/** Settles like `promise`, but rejects with ABORTED as soon as `signal` fires (the work itself is not cancelled). */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
