import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { subscribeTied } from '../src/flow.js';
import { registerStage } from '../src/state/registry.js';
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
  // A filter on the element's index; in a resumable pipeline the count seen is saved (src/state/).
  return derivesCardinality((n) => Math.max(0, Math.ceil((n - index) / count)), (source) =>
    new Observable<T>((subscriber) => {
      /** Elements seen so far in this subscription. */
      let seen = 0;
      const state = registerStage({ kind: 'shard', name: 'shard', role: 'operator', save: () => ({ seen }) });
      if (state) {
        seen = (state.restored as { seen: number } | undefined)?.seen ?? 0;
        subscriber = state.emitter(subscriber);
      }
      const out = subscriber;
      return subscribeTied(out, source, {
        next(value) {
          state?.received();
          if (seen++ % count === index) out.next(value);
        },
        error: (error) => out.error(error),
        complete: () => out.complete(),
      });
    }));
}
