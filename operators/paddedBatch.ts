import type { OperatorFunction } from 'rxjs';
import { padStack, type PaddedShapes, type PadValues } from '../src/stack.js';
import type { Batched, DTypeSpec } from '../src/types.js';
import { batchesOf, type NumbersAs } from './batch.js';

export interface PaddedBatchOptions<D extends DTypeSpec = DTypeSpec> {
  /**
   * The value padding is filled with: one number for every component, or one per component with
   * the element's structure (tf.data's `padding_values`): `{ tokens: 0, mask: -1 }`, `[0, -1]`.
   * Components not named pad with 0. Default 0. Must fit the component's dtype.
   */
  padValue?: PadValues;
  /**
   * Fixed padded shapes per component (without the batch dimension; tf.data's `padded_shapes`):
   * a shape for a tensor (`[null, 5]`: `null` or -1 pads that dimension to the longest in the
   * batch), an array of shapes for a tuple, an object of shapes for an object. Default: longest.
   */
  shapes?: PaddedShapes;
  /** Drop a last batch smaller than `size`. Default false. */
  dropRemainder?: boolean;
  /** The dtype for plain JS numbers, as for `batch`. Default `'float32'`. */
  dtype?: D;
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
 * Reads elements by the same rule as `batch` (docs/batching.md): every tensor component (typed
 * arrays, NDArrays, nested number arrays) is padded in every dimension, with that component's
 * pad value; scalars and strings are stacked as by `batch`; tuples (`zip(a$, b$)`) and objects
 * component by component. Holds at most `size` elements.
 *
 * @example
 * ```ts
 * sentences$.pipe(map((s) => ({ tokens: encode(s), label: s.label })), paddedBatch(16, { padValue: { tokens: PAD } }));
 * zip(tokens$, tags$).pipe(paddedBatch(16, { padValue: [0, -1] }));
 * ```
 */
export function paddedBatch<T, const D extends DTypeSpec = 'float32'>(size: number, options: PaddedBatchOptions<D> = {}): OperatorFunction<T, Batched<T, NumbersAs<D>>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`paddedBatch: size must be an integer >= 1, got ${size}`);
  const { padValue = 0, shapes, dropRemainder = false, dtype } = options;
  return batchesOf<T, Batched<T, NumbersAs<D>>>(size, dropRemainder, (elements) => padStack(elements, { padValue, shapes, dtype }) as Batched<T, NumbersAs<D>>);
}
