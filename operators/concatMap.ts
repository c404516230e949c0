import type { ObservableInput, ObservedValueOf, OperatorFunction } from 'rxjs';
import { flowMerge } from '../src/flowMerge.js';

/**
 * RxJS's `concatMap`, obeying demand: one inner source at a time, the next element pulled only
 * once the current inner has completed.
 *
 * ```
 * source:   -a-----------b--…   (the next pulled after A completes)
 * project:   [A1 A2]      [B1]
 * output:   ---A1-A2-------B1-
 * ```
 *
 * Bound: one element (its values waiting for the stage below), plus what an inner that is not
 * ours pushes at once. RxJS's own `concatMap` queues every element that arrives meanwhile.
 *
 * @example
 * ```ts
 * import { concatMap } from 'rxdata/rxjs';
 * fromFiles('rows.csv', { format: 'csv' }).pipe(concatMap(async (row) => enrich(row)), consume(train));
 * ```
 */
export function concatMap<T, O extends ObservableInput<unknown>>(project: (value: T, index: number) => O): OperatorFunction<T, ObservedValueOf<O>> {
  return flowMerge('concatMap', project, 1, 'queue');
}
