import type { ObservableInput, ObservedValueOf, OperatorFunction } from 'rxjs';
import { flowMerge } from '../src/flowMerge.js';

/**
 * RxJS's `exhaustMap`, obeying demand: projects an element only while no inner is running.
 *
 * ```
 * source:   -a-b-c-----d-   (b, c: pushed by a producer that cannot wait, dropped and counted)
 * project:   [A1 A2]   [D1]
 * output:   ---A1-A2----D1-
 * ```
 *
 * While an inner runs, its gate is closed: a source of ours is not read at all (nothing to drop),
 * and a source that cannot pause drops by its own overflow policy. Elements still pushed
 * meanwhile are dropped, as in RxJS, and counted in the stage's `dropped` statistic.
 * Bound: one element.
 *
 * @example
 * ```ts
 * import { exhaustMap } from 'rxdata/rxjs';
 * fromUdp({ port: 9000 }).pipe(exhaustMap((reading) => score(reading)));
 * ```
 */
export function exhaustMap<T, O extends ObservableInput<unknown>>(project: (value: T, index: number) => O): OperatorFunction<T, ObservedValueOf<O>> {
  return flowMerge('exhaustMap', project, 1, 'drop');
}
