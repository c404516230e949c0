import { Observable, type OperatorFunction } from 'rxjs';
import { subscribeTied } from '../src/flow.js';
import { registerStage } from '../src/state/registry.js';
import { derivesCardinality } from '../src/cardinality.js';
import { stack } from '../src/stack.js';
import { carryProvenance } from '../src/provenance.js';
import type { Batched, DType, DTypeArrays, DTypeSpec, TypedArray } from '../src/types.js';

export interface BatchOptions<D extends DTypeSpec = DTypeSpec> {
  /** Drop a last batch smaller than `size` (static shapes for every step). Default false. */
  dropRemainder?: boolean;
  /**
   * The dtype plain JS numbers are stored as: one for all (`'int32'`), or per component with the
   * element's structure (`{ ids: 'int32', label: 'int32' }`). Default `'float32'`, as `tf.tensor`
   * does. Typed arrays and NDArrays keep their own dtype. A value the dtype cannot hold exactly
   * (an integer above 2^24 in float32, a fraction in int32) is an error, never rounded silently.
   */
  dtype?: D;
}

/** The typed array a `dtype` option gives plain numbers (a per-component spec: any of them). */
export type NumbersAs<D> = D extends DType ? DTypeArrays[D] : TypedArray;

/**
 * Groups `size` elements into one batch and stacks their numeric features into typed arrays
 * with a leading batch dimension, so a batch becomes a tensor with one copy.
 *
 * ```
 * source:    -a-b-c-d-e-|
 * batch(2):  ---[ab]-[cd]-[e]|      ({ xs: NDArray [2, …], ys: NDArray [2] } …)
 * ```
 *
 * Elements may be numbers, booleans, typed arrays, NDArrays, nested number arrays, strings, or
 * objects and tuples of those, nested (`{ xs, ys }`, `[index, vector]`, `[1, 'foo']`); each
 * component is stacked on its own. The rule (docs/batching.md): a typed array or NDArray is a
 * tensor of its own dtype; a JS array of numbers (or of equally-shaped number arrays) is a tensor
 * whose numbers are float32 unless `dtype` says otherwise; any other array is a tuple (force one
 * with `tuple(a, b)`); a plain object is a struct; other values (strings) are collected into
 * arrays. Shapes must agree within a batch: use {@link paddedBatch} or `raggedBatch` for
 * sequences of different lengths. Works like `bufferCount(size)` then a stack of each buffer, in
 * one hop per element; holds at most `size` elements.
 *
 * @example
 * ```ts
 * rows$.pipe(map((r) => ({ xs: r.pixels, ys: r.label })), batch(32)); // { xs: [32, 64], ys: [32] }
 * ids$.pipe(batch(32, { dtype: 'int32' }));                              // Int32Array [32]
 * ```
 */
export function batch<T, const D extends DTypeSpec = 'float32'>(size: number, options: BatchOptions<D> = {}): OperatorFunction<T, Batched<T, NumbersAs<D>>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`batch: size must be an integer >= 1, got ${size}`);
  const { dropRemainder = false, dtype } = options;
  return batchesOf<T, Batched<T, NumbersAs<D>>>(size, dropRemainder, (elements) => stack(elements, { dtype }) as Batched<T, NumbersAs<D>>);
}

/**
 * The body of `batch`, `paddedBatch` and `raggedBatch`: groups of `size` elements (the last one
 * shorter unless `dropRemainder`), each turned into one value by `make`; an error `make` throws
 * goes downstream. Holds at most `size` elements.
 */
export function batchesOf<T, R>(size: number, dropRemainder: boolean, make: (elements: T[]) => R): OperatorFunction<T, R> {
  // What bufferCount → filter → map did, in one hop per element: rxjs's bufferCount walks its
  // list of buffers with an iterator per element, a third of the cost of a cheap pipeline.
  // Subscribed in the caller's scope like any plain operator, so demand passes straight through.
  // The count of groups follows the count of elements (see src/cardinality.ts).
  return derivesCardinality((n) => (dropRemainder ? Math.floor(n / size) : Math.ceil(n / size)), (source) =>
    new Observable<R>((subscriber) => {
      /** The group being filled (at most `size` elements). */
      let buffer: T[] = [];
      // In a resumable pipeline: the partial group is saved (see src/state/).
      const state = registerStage({ kind: 'batch', name: 'batch', role: 'operator', save: () => ({ buffer: buffer.slice() }), held: () => buffer.length });
      if (state) {
        buffer = (state.restored as { buffer: T[] } | undefined)?.buffer.slice() ?? [];
        subscriber = state.emitter(subscriber);
      }
      const emit = (elements: T[]): void => {
        let out: R;
        try {
          out = make(elements);
          // Where the elements came from (Kafka positions, say) goes on with the batch.
          carryProvenance(elements, out);
        } catch (error) {
          subscriber.error(error);
          return;
        }
        subscriber.next(out);
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          state?.received();
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
