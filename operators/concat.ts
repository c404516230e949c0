import type { Observable, ObservableInput, ObservedValueOf } from 'rxjs';
import { flowMerge } from '../src/flowMerge.js';
import { fromIterable } from '../src/fromIterable.js';

/**
 * RxJS's `concat`, obeying demand: subscribes to each input once the previous has completed,
 * and always in the scope of the stage below, so each input of ours pulls only on its demand.
 *
 * ```
 * a:       -1-2-|
 * b:             -x-y-|
 * output:  -1-2---x-y-|
 * ```
 *
 * Arrays and iterables are pulled on demand. Bound: what an input that is not ours pushes at once.
 *
 * @example
 * ```ts
 * import { concat } from 'rxdata/rxjs';
 * concat(fromFiles('warmup.csv', { format: 'csv' }), fromFiles('train.csv', { format: 'csv' })).pipe(batch(32));
 * ```
 */
export function concat<A extends readonly ObservableInput<unknown>[]>(...inputs: [...A]): Observable<ObservedValueOf<A[number]>> {
  return fromIterable(inputs, { name: 'concat.inputs' }).pipe(
    flowMerge('concat', (input: ObservableInput<unknown>) => input, 1, 'queue'),
  ) as Observable<ObservedValueOf<A[number]>>;
}
