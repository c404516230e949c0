import type { OperatorFunction } from 'rxjs';
import { padStack, stack, type PaddedShapes, type PadValues } from '../src/stack.js';
import type { Batched, DTypeSpec } from '../src/types.js';
import { groupByWindow } from './groupByWindow.js';

export interface BucketOptions {
  /** Pad value(s), as for `paddedBatch` (tf.data's `padding_values`). Default 0. */
  padValue?: PadValues;
  /** Padded shapes, as for `paddedBatch` (tf.data's `padded_shapes`). Default: longest in the batch. */
  shapes?: PaddedShapes;
  /** Batch without padding (tf.data's `no_padding`): every element of a batch must then have one shape. Default false. */
  noPadding?: boolean;
  /** Drop the partial batches left in the buckets at the end. Default false. */
  dropRemainder?: boolean;
  /** The dtype for plain JS numbers, as for `batch`. Default `'float32'`. */
  dtype?: DTypeSpec;
}

/**
 * Batches variable-length sequences with others of similar length, so little of each batch is
 * padding (tf.data's `bucket_by_sequence_length`): the standard way to train on text and sensor
 * traces.
 *
 * ```
 * boundaries [3, 5] → buckets: length < 3 | 3 ≤ length < 5 | 5 ≤ length
 * source (lengths):                                  -2-4-1-6-3-|
 * bucketBySequenceLength(len, [3, 5], [2, 2, 2]):    -----[2 1]---[4 3]-[6]|   (each padded in its bucket)
 * ```
 *
 * Element `e` goes to bucket `i` where `boundaries[i - 1] <= lengthFn(e) < boundaries[i]`;
 * a bucket is emitted as a `paddedBatch` of `batchSizes[i]` elements when it is full, and at the
 * end every partial bucket is emitted (in the order they were opened, unless `dropRemainder`). `batchSizes`
 * has one more entry than `boundaries`. Holds at most `sum(batchSizes) - buckets` elements (each
 * bucket one short of full); elements leave in a different order than they came. In a resumable
 * pipeline (docs/resume.md) the buckets' contents are saved and reported as held.
 *
 * @example
 * ```ts
 * sentences$.pipe(bucketBySequenceLength((s) => s.tokens.length, [10, 20, 40], [64, 32, 16, 8], { padValue: { tokens: PAD } }));
 * ```
 */
export function bucketBySequenceLength<T>(
  lengthFn: (element: T) => number,
  boundaries: readonly number[],
  batchSizes: readonly number[],
  options: BucketOptions = {},
): OperatorFunction<T, Batched<T>> {
  const { padValue, shapes, noPadding = false, dropRemainder = false, dtype } = options;
  for (let i = 0; i < boundaries.length; i++) {
    if (!Number.isFinite(boundaries[i]) || (i > 0 && boundaries[i] <= boundaries[i - 1])) {
      throw new RangeError(`bucketBySequenceLength: boundaries must be increasing finite numbers, got [${boundaries.join(', ')}]`);
    }
  }
  if (batchSizes.length !== boundaries.length + 1) {
    throw new RangeError(`bucketBySequenceLength: batchSizes needs ${boundaries.length + 1} entries (one per bucket), got ${batchSizes.length}`);
  }
  for (const size of batchSizes) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`bucketBySequenceLength: batch sizes must be integers >= 1, got ${size}`);
  }
  const bucketOf = (element: T): number => {
    const length = lengthFn(element);
    if (typeof length !== 'number' || Number.isNaN(length)) throw new TypeError(`lengthFn returned ${String(length)}, not a number`);
    let i = 0;
    while (i < boundaries.length && length >= boundaries[i]) i++;
    return i;
  };
  return groupByWindow<T, Batched<T>>(
    bucketOf,
    (bucket, elements) => {
      if (dropRemainder && elements.length < batchSizes[bucket as number]) return [];
      return [(noPadding ? stack(elements, { dtype }) : padStack(elements, { padValue, shapes, dtype })) as Batched<T>];
    },
    (bucket) => batchSizes[bucket as number],
    { maxKeys: batchSizes.length, name: 'bucketBySequenceLength' },
  );
}
