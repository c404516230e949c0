import type { OperatorFunction } from 'rxjs';
import { raggedStack } from '../src/stack.js';
import type { DTypeSpec, RaggedBatched } from '../src/types.js';
import { batchesOf, type NumbersAs } from './batch.js';

export interface RaggedBatchOptions<D extends DTypeSpec = DTypeSpec> {
  /** Drop a last batch smaller than `size`. Default false. */
  dropRemainder?: boolean;
  /** The dtype for plain JS numbers, as for `batch`. Default `'float32'`. */
  dtype?: D;
}

/**
 * Batches elements whose tensors differ in length without padding (tf.data's `ragged_batch`):
 * every tensor component of rank ≥ 1 becomes a `RaggedArray` `{ values, rowSplits }`, the rows
 * laid end to end (`values`, an NDArray `[total, ...inner]`) and row `i` at
 * `values[rowSplits[i] .. rowSplits[i + 1])`, as a tf.RaggedTensor's `values` and `row_splits`.
 *
 * ```
 * source:           -[1 2]-[3]-[4 5 6]-|
 * raggedBatch(3):   -------------{ values: [1 2 3 4 5 6], rowSplits: [0 2 3 6] }|
 * ```
 *
 * Only the first dimension may vary (ragged rank 1); the others must agree within a batch.
 * Every rank ≥ 1 component is ragged whatever its lengths, so a batch's type does not depend on
 * its data (tf.data decides by the static shape, which JS values lack). Scalars and strings
 * are stacked as by `batch`; tuples and objects component by component. `unbatch` gives the
 * rows back. Holds at most `size` elements.
 *
 * @example
 * ```ts
 * sentences$.pipe(map((s) => ({ tokens: encode(s), label: s.label })), raggedBatch(32));
 * // { tokens: { values: NDArray [total], rowSplits: Int32Array [33] }, label: NDArray [32] }
 * ```
 */
export function raggedBatch<T, const D extends DTypeSpec = 'float32'>(size: number, options: RaggedBatchOptions<D> = {}): OperatorFunction<T, RaggedBatched<T, NumbersAs<D>>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`raggedBatch: size must be an integer >= 1, got ${size}`);
  const { dropRemainder = false, dtype } = options;
  return batchesOf<T, RaggedBatched<T, NumbersAs<D>>>(size, dropRemainder, (elements) => raggedStack(elements, { dtype }) as RaggedBatched<T, NumbersAs<D>>);
}
