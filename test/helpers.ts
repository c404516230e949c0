/** Shared test helpers: counting sources and small async utilities. */
import { lastValueFrom, toArray, type Observable } from 'rxjs';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function collect<T>(source: Observable<T>): Promise<T[]> {
  return lastValueFrom(source.pipe(toArray()));
}

/** An endless generator that counts what was pulled from it and whether it was closed. */
export function counter() {
  const state = { pulled: 0, closed: false };
  function* endless(): Generator<number> {
    try {
      for (let i = 0; ; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, endless };
}

/** Values 0..n-1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
