import type { Observable, ObservableInput, ObservedValueOf } from 'rxjs';
import { flowMerge } from '../src/flowMerge.js';
import { fromIterable } from '../src/fromIterable.js';

type Inputs = readonly ObservableInput<unknown>[];

/**
 * RxJS's `merge`, obeying demand: subscribes to every input (at most `concurrency` at once) and
 * emits their values as they come, each only when the stage below takes it.
 *
 * ```
 * a:       -1---2-----3-|
 * b:       ---x---y-|
 * output:  -1-x-2-y---3-|   (inputs of ours take turns while the stage below is full)
 * ```
 *
 * Inputs of ours pause together while the stage below is full and take turns when it frees up;
 * arrays and iterables are pulled on demand. Bound: what inputs that are not ours push at once.
 *
 * @example
 * ```ts
 * import { merge } from 'rxdata/rxjs';
 * merge(fromFiles('replay/*.jsonl', { format: 'jsonl' }), fromKafka(live)).pipe(batch(32), trainOn(model));
 * ```
 */
export function merge<A extends Inputs>(...args: [...A]): Observable<ObservedValueOf<A[number]>>;
export function merge<A extends Inputs>(...args: [...A, number]): Observable<ObservedValueOf<A[number]>>;
export function merge(...args: (ObservableInput<unknown> | number)[]): Observable<unknown> {
  const concurrency = typeof args[args.length - 1] === 'number' ? (args.pop() as number) : Infinity;
  const inputs = args as ObservableInput<unknown>[];
  return fromIterable(inputs, { name: 'merge.inputs' }).pipe(flowMerge('merge', (input: ObservableInput<unknown>) => input, concurrency, 'queue'));
}
