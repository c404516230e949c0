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
 * Elements are views into the batch's typed arrays (no copies); a rank-1 feature gives numbers.
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
          const n = batchSize(value);
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
