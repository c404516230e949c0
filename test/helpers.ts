/** Shared test helpers: counting sources and small async utilities. */
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { fromIterable } from '../src/fromIterable.js';

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

/**
 * Asserts that a fast-check property held for every generated case (a failure names the
 * counterexample and the seed to replay it) and that all the requested cases ran.
 */
export function holds<Ts>(t: ExecutionContext, details: fc.RunDetails<Ts>, numRuns: number): void {
  t.false(details.failed, fc.defaultReportMessage(details) ?? 'the property failed');
  t.is(details.numRuns, numRuns, 'every generated case ran');
}

/**
 * A synchronous source of ours (an array) and an asynchronous one (an async generator that yields
 * to the event loop every `yieldEvery` elements), both counting 0..n-1: stages are tested over each.
 */
export function syncAndAsyncSources(yieldEvery: number): [string, (n: number) => Observable<number>][] {
  return [
    ['sync', (n) => fromIterable(range(n))],
    [
      'async',
      (n) =>
        fromIterable(async function* () {
          for (let i = 0; i < n; i++) {
            if (i % yieldEvery === 0) await sleep(0);
            yield i;
          }
        }),
    ],
  ];
}
