/**
 * What a tuned call learns about the work it hands on. `parallelMap(fn, { concurrency: 'auto' })`
 * runs each call of `fn` inside {@link duringCall}; a worker pool's `run`, called synchronously
 * from `fn`, says through {@link servedByPool} how many threads serve it. Calls beyond twice the
 * threads (each thread running one, the next queued) only wait in the pool's queue, so the tuner
 * does not raise past that (policy.ts, the pool model). A call that reaches the pool after an
 * `await` says nothing, and the tuner measures as before.
 */
type Listener = (threads: number) => void;

let current: Listener | undefined;

/** Runs `fn` with `listener` told of any worker pool it calls synchronously. */
export function duringCall<T>(listener: Listener, fn: () => T): T {
  const outer = current;
  current = listener;
  try {
    return fn();
  } finally {
    current = outer;
  }
}

/** Called by a worker pool's `run`: the call in progress (if tuned) is served by `threads` threads. */
export function servedByPool(threads: number): void {
  current?.(threads);
}
