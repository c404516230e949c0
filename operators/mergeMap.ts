import type { ObservableInput, ObservedValueOf, OperatorFunction } from 'rxjs';
import { flowMerge } from '../src/flowMerge.js';

/** `mergeMap`'s concurrency when none is given: RxJS's is unlimited, which no bound survives. */
export const DEFAULT_MERGE_CONCURRENCY = 16;

/**
 * RxJS's `mergeMap`, obeying demand: projects each element to an inner source and merges their
 * values, with at most `concurrency` elements taken from upstream and not yet finished.
 *
 * ```
 * source:   -a-b-c-d-…          (pulled only while a slot is free)
 * project:   [A1 A2]
 *              [B1    B2]
 * output:   ---A1-B1-A2--B2-…   (each value waits for the stage below)
 * ```
 *
 * Bound: `concurrency` elements (running, or their values waiting for the stage below), plus the
 * values an inner that is not ours pushes at once (a Promise gives one). Arrays and iterables
 * returned by `project` are pulled on demand. Unlike RxJS, `concurrency` defaults to
 * {@link DEFAULT_MERGE_CONCURRENCY}; pass `Infinity` only for long-lived inners (the groups of
 * `groupBy`), since it lets every element start at once.
 *
 * @example
 * ```ts
 * import { mergeMap } from 'rxdata/rxjs';
 * paths$.pipe(mergeMap((p) => readFile(p), 4), consume(train));
 * ```
 */
export function mergeMap<T, O extends ObservableInput<unknown>>(
  project: (value: T, index: number) => O,
  concurrency: number = DEFAULT_MERGE_CONCURRENCY,
): OperatorFunction<T, ObservedValueOf<O>> {
  return flowMerge('mergeMap', project, concurrency, 'queue');
}
