import type { OperatorFunction } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { batchSize, unstack } from '../src/stack.js';
import { stageFor } from '../src/stats.js';
import type { Unbatched } from '../src/types.js';

/**
 * Splits batches back into elements (tf.data's `unbatch`): the inverse of `batch`.
 *
 * ```
 * source:    ---[ab]------[cd]-|
 * unbatch(): ---a---b-----c---d|     (only as fast as the stages below take them)
 * ```
 *
 * Reads batches by the rule `batch` writes them (docs/batching.md): an NDArray, typed array or
 * nested number array gives its rows along the first dimension, a `raggedBatch` array its rows,
 * a tuple or object of those its components row by row (all must agree on the row count), and
 * an array of other values (strings) its values. Rows are views into the batch's typed arrays
 * (no copies): float32 scalars come back as numbers, other scalars as rank-0 NDArrays (so a
 * second `batch` keeps their dtype), rank-1 rows as typed arrays, higher ranks as NDArrays.
 * One batch is held at a time, so unbatching a large batch never floods the stages below.
 *
 * @example
 * ```ts
 * batches$.pipe(unbatch(), batch(8)); // re-batch to another size
 * ```
 */
export function unbatch<B>(options: { name?: string } = {}): OperatorFunction<B, Unbatched<B>> {
  const key = {};
  return (source) =>
    scoped<Unbatched<B>>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, options.name ?? 'unbatch', 'operator');
      /** Open while no batch is being handed out. */
      const gate = new Valve(stage.name);
      const outbox = new Outbox<Unbatched<B>>(subscriber, scope, () => gate.set(outbox.size === 0), stage);
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          let n: number | undefined;
          try {
            n = batchSize(value);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          if (n === undefined) {
            subscriber.error(new TypeError('unbatch: element is not a batch (no array with a batch dimension)'));
            return;
          }
          gate.set(false);
          for (let i = 0; i < n; i++) outbox.push(unstack(value, i) as Unbatched<B>);
          gate.set(outbox.size === 0);
        },
        error: (error) => outbox.error(error),
        complete: () => outbox.complete(),
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
      };
    });
}
