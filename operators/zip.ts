import { EMPTY, map, type Observable, type ObservableInput, type ObservedValueOf } from 'rxjs';
import { innerFrom } from '../src/innerFrom.js';
import { zipDatasets } from './zipDatasets.js';

type Inputs = readonly ObservableInput<unknown>[];
type Zipped<A extends Inputs> = { [K in keyof A]: ObservedValueOf<A[K]> };

/**
 * RxJS's `zip`, obeying demand: pairs the n-th values of every input, asking each input for one
 * value per output, and only when the stage below wants one (the engine is {@link zipDatasets}).
 *
 * ```
 * a:       -1-2-3-…      (pulled one per output)
 * b:       ---x---y-…
 * output:  ---[1,x]-[2,y]-…
 * ```
 *
 * RxJS's own `zip` keeps every value of a fast input until a slow one catches up; here an input of
 * ours waits instead. Bound: one value per input (an input that is not ours may push up to
 * `maxBuffered` = 10,000, then the stream fails). Completes once an input has completed with
 * nothing left to pair, as RxJS does; no input completes at once.
 *
 * @example
 * ```ts
 * import { zip } from 'rxdata/rxjs';
 * zip(images$, labels$).pipe(map(([image, label]) => ({ image, label })), batch(32));
 * ```
 */
export function zip<A extends Inputs>(...inputs: [...A]): Observable<Zipped<A>>;
export function zip<A extends Inputs>(inputs: [...A]): Observable<Zipped<A>>;
export function zip<A extends Inputs, R>(...args: [...A, (...values: Zipped<A>) => R]): Observable<R>;
export function zip(...args: unknown[]): Observable<unknown> {
  const project = typeof args[args.length - 1] === 'function' ? (args.pop() as (...values: unknown[]) => unknown) : undefined;
  const inputs = (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as ObservableInput<unknown>[];
  if (inputs.length === 0) return EMPTY;
  const zipped = zipDatasets(inputs.map((input) => innerFrom(input)), { name: 'zip' });
  return project ? zipped.pipe(map((values) => project(...values))) : zipped;
}
