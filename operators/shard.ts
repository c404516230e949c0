import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import { derivesCardinality } from '../src/cardinality.js';

/**
 * Keeps every `count`-th element starting at `index`, so `count` workers each read a disjoint
 * part of the same pipeline (tf.data's `shard`).
 *
 * ```
 * source:          -a-b-c-d-e-f-|
 * shard(3, 0):     -a-----d-----|
 * shard(3, 1):     ---b-----e---|
 * ```
 *
 * Shard as close to the source as you can (before expensive maps); to split files rather than
 * records, use the `shard` option of `fromFiles`.
 *
 * @example
 * ```ts
 * rows$.pipe(shard(workerCount, workerIndex), batch(32));
 * ```
 */
export function shard<T>(count: number, index: number): MonoTypeOperatorFunction<T> {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`shard: count must be an integer >= 1, got ${count}`);
  if (!(Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`shard: index must be an integer in [0, ${count}), got ${index}`);
  }
  // Elements index, index + count, …: ⌈(n − index) / count⌉ of them (see src/cardinality.ts).
  return derivesCardinality((n) => Math.max(0, Math.ceil((n - index) / count)), filter((_value, i) => i % count === index));
}
