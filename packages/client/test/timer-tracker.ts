// Tracks the timers the client's own code creates (setTimeout/setInterval called from packages/client/src), to check
// that none outlives close(). Timers of the protocol package (RPC timeouts) and of the tests are not tracked.
import { onTestFinished } from 'vitest';

type Callback = (...args: unknown[]) => void;
type TimerFn = (callback: Callback, ms?: number, ...args: unknown[]) => NodeJS.Timeout;
type ClearFn = (timer: NodeJS.Timeout | string | number | undefined) => void;

/** The first stack frame outside this file, if it is client source code. */
function clientCaller(): string | undefined {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const frame = frames.find((line) => !line.includes('timer-tracker'));
  return frame?.includes('/packages/client/src/') ? frame.trim() : undefined;
}

/**
 * Starts tracking (until the test ends). `live()` lists where each timer still pending was created: a timeout that
 * neither fired nor was cleared, an interval not cleared.
 */
export function trackClientTimers(): { live(): string[] } {
  const live = new Map<NodeJS.Timeout, string>();
  const original = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval, clearTimeout: globalThis.clearTimeout, clearInterval: globalThis.clearInterval };
  const realSetTimeout = original.setTimeout as unknown as TimerFn;
  const realSetInterval = original.setInterval as unknown as TimerFn;
  const realClearTimeout = original.clearTimeout as unknown as ClearFn;
  const realClearInterval = original.clearInterval as unknown as ClearFn;
  const wrappedSetTimeout: TimerFn = (callback, ms, ...args) => {
    const creator = clientCaller();
    if (creator === undefined) return realSetTimeout(callback, ms, ...args);
    const timer = realSetTimeout((...callArgs: unknown[]) => {
      live.delete(timer);
      callback(...callArgs);
    }, ms, ...args);
    live.set(timer, creator);
    return timer;
  };
  const wrappedSetInterval: TimerFn = (callback, ms, ...args) => {
    const creator = clientCaller();
    const timer = realSetInterval(callback, ms, ...args);
    if (creator !== undefined) live.set(timer, creator);
    return timer;
  };
  const clear = (real: ClearFn): ClearFn => (timer) => {
    if (typeof timer === 'object') live.delete(timer);
    real(timer);
  };
  Object.assign(globalThis, {
    setTimeout: wrappedSetTimeout,
    setInterval: wrappedSetInterval,
    clearTimeout: clear(realClearTimeout),
    clearInterval: clear(realClearInterval),
  });
  onTestFinished(() => void Object.assign(globalThis, original));
  return { live: () => [...live.values()] };
}
