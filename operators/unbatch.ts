import type { OperatorFunction } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { batchSize, unstack } from '../src/stack.js';
import { stageFor } from '../src/stats.js';
import { registerStage } from '../src/state/registry.js';
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
 * One batch is held at a time, so unbatching a large batch never floods the stages below. In a
 * resumable pipeline (docs/resume.md) the batch being handed out and how many of its rows were
 * emitted are saved (held: 1 batch).
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
      /** The batch being handed out (for a checkpoint), its row count, and the rows emitted so far. */
      let current: { batch: B; rows: number; emitted: number } | undefined;
      const state = registerStage({
        kind: 'unbatch',
        name: stage.name,
        role: 'operator',
        save: () => (current ? { batch: current.batch, emitted: current.emitted } : {}),
        held: () => (current ? 1 : 0),
      });
      if (state) {
        subscriber = state.emitter(subscriber, () => {
          if (current && ++current.emitted === current.rows) current = undefined;
        });
      }
      const outbox = new Outbox<Unbatched<B>>(subscriber, scope, () => gate.set(outbox.size === 0), stage);
      const restored = state?.restored as { batch?: B; emitted?: number } | undefined;
      if (restored?.batch !== undefined) {
        // The rest of the batch that was being handed out, before anything new.
        const rows = batchSize(restored.batch)!;
        current = { batch: restored.batch, rows, emitted: restored.emitted! };
        for (let i = restored.emitted!; i < rows; i++) outbox.push(unstack(restored.batch, i) as Unbatched<B>);
      }
      gate.set(outbox.size === 0);
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          state?.received();
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
          if (state && n > 0) current = { batch: value, rows: n, emitted: 0 };
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
