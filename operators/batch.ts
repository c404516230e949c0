import { bufferCount, filter, map, pipe, type OperatorFunction } from 'rxjs';
import { stack } from '../src/stack.js';
import type { Batched } from '../src/types.js';

export interface BatchOptions {
  /** Drop a last batch smaller than `size` (static shapes for every step). Default false. */
  dropRemainder?: boolean;
}

/**
 * Groups `size` elements into one batch and stacks their numeric features into typed arrays
 * with a leading batch dimension, so a batch becomes a tensor with one copy.
 *
 * ```
 * source:    -a-b-c-d-e-|
 * batch(2):  ---[ab]-[cd]-[e]|      ({ xs: NDArray [2, …], ys: NDArray [2] } …)
 * ```
 *
 * Elements may be numbers, typed arrays, NDArrays, nested number arrays, or objects and tuples
 * of those (`{ xs, ys }`); each field is stacked (numbers and number arrays as float32, typed
 * arrays keep their type). Shapes must agree within a batch: use {@link paddedBatch} for
 * sequences of different lengths. Non-numeric fields (strings) are collected into arrays.
 * Built on `bufferCount`.
 *
 * @example
 * ```ts
 * rows$.pipe(map((r) => ({ xs: r.pixels, ys: r.label })), batch(32)); // { xs: [32, 64], ys: [32] }
 * ```
 */
export function batch<T>(size: number, options: BatchOptions = {}): OperatorFunction<T, Batched<T>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`batch: size must be an integer >= 1, got ${size}`);
  const { dropRemainder = false } = options;
  return pipe(
    bufferCount<T>(size),
    filter((elements) => !dropRemainder || elements.length === size),
    map((elements) => stack(elements) as Batched<T>),
  );
}
