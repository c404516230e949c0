import { Observable, type OperatorFunction } from 'rxjs';
import { subscribeTied } from '../src/flow.js';
import { derivesCardinality } from '../src/cardinality.js';
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
 * Works like `bufferCount(size)` then a stack of each buffer, in one hop per element.
 *
 * @example
 * ```ts
 * rows$.pipe(map((r) => ({ xs: r.pixels, ys: r.label })), batch(32)); // { xs: [32, 64], ys: [32] }
 * ```
 */
export function batch<T>(size: number, options: BatchOptions = {}): OperatorFunction<T, Batched<T>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`batch: size must be an integer >= 1, got ${size}`);
  const { dropRemainder = false } = options;
  // What bufferCount → filter → map did, in one hop per element: rxjs's bufferCount walks its
  // list of buffers with an iterator per element, a third of the cost of a cheap pipeline.
  // Subscribed in the caller's scope like any plain operator, so demand passes straight through.
  // The count of batches follows the count of elements (see src/cardinality.ts).
  return derivesCardinality((n) => (dropRemainder ? Math.floor(n / size) : Math.ceil(n / size)), (source) =>
    new Observable<Batched<T>>((subscriber) => {
      let buffer: T[] = [];
      const emit = (elements: T[]): void => {
        let out: Batched<T>;
        try {
          out = stack(elements) as Batched<T>;
        } catch (error) {
          subscriber.error(error);
          return;
        }
        subscriber.next(out);
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          buffer.push(value);
          if (buffer.length < size) return;
          const full = buffer;
          buffer = [];
          emit(full);
        },
        error: (error) => subscriber.error(error),
        complete() {
          const rest = buffer;
          buffer = [];
          if (rest.length > 0 && !dropRemainder) emit(rest);
          subscriber.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        buffer = [];
      };
    }));
}
