import { bufferCount, filter, map, pipe, type OperatorFunction } from 'rxjs';
import { padStack, type PaddedShapes } from '../src/stack.js';
import type { Batched } from '../src/types.js';

export interface PaddedBatchOptions {
  /** The value that fills padding. Default 0. */
  padValue?: number;
  /**
   * Fixed padded shapes per feature (without the batch dimension); `null` or -1 in a dimension
   * pads to the longest in the batch. For objects, an object of shapes. Default: all longest.
   */
  shapes?: PaddedShapes;
  /** Drop a last batch smaller than `size`. Default false. */
  dropRemainder?: boolean;
}

/**
 * Batches variable-length sequences, padding each to the longest in its batch (tf.data's
 * `padded_batch`).
 *
 * ```
 * source:          -[1 2]-[3]-[4 5 6]-|
 * paddedBatch(3):  -------------[[1 2 0] [3 0 0] [4 5 6]]|
 * ```
 *
 * Numeric features (typed arrays, NDArrays, nested number arrays) are padded in every dimension;
 * numbers are stacked as by `batch`.
 *
 * @example
 * ```ts
 * sentences$.pipe(map((s) => ({ tokens: encode(s), label: s.label })), paddedBatch(16));
 * ```
 */
export function paddedBatch<T>(size: number, options: PaddedBatchOptions = {}): OperatorFunction<T, Batched<T>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`paddedBatch: size must be an integer >= 1, got ${size}`);
  const { padValue = 0, shapes, dropRemainder = false } = options;
  return pipe(
    bufferCount<T>(size),
    filter((elements) => !dropRemainder || elements.length === size),
    map((elements) => padStack(elements, padValue, shapes) as Batched<T>),
  );
}
