import type { MonoTypeOperatorFunction } from 'rxjs';
import { Demand, Outbox, runInScope, scoped, subscribeTied } from '../src/flow.js';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { stageFor } from '../src/stats.js';

/**
 * Lets a subscriber fall behind without slowing what is above it: holds up to `bufferSize`
 * elements for the stage below and, when full, drops the oldest and counts it.
 *
 * ```
 * source:   -a-b-c-d-e-f-…     (not slowed down)
 * held:      [≤ bufferSize]     (oldest dropped, counted in `dropped`)
 * output:   ---a----d----f-    (as fast as the stage below takes)
 * ```
 *
 * The policy for a monitoring subscriber of a `share()`d pipeline, which would otherwise pace
 * the training: above this stage the demand is unbounded. Bound: `bufferSize`.
 *
 * @example
 * ```ts
 * shared$.pipe(lossy(16), consume(postToDashboard)).subscribe();
 * ```
 */
export function lossy<T>(bufferSize = 1, options: { name?: string } = {}): MonoTypeOperatorFunction<T> {
  if (!(Number.isInteger(bufferSize) && bufferSize >= 1)) throw new RangeError(`lossy: bufferSize must be an integer >= 1, got ${bufferSize}`);
  const key = {};
  return (source) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, options.name ?? 'lossy', 'operator');
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('lossy', stage.name, 'what it drops depends on timing, so no restored run can repeat it');
      const outbox = new Outbox<T>(subscriber, scope, undefined, stage);
      const upstream = runInScope({ demand: Demand.unbounded, stats: scope.stats }, () =>
        subscribeTied(subscriber, source, {
          next(value) {
            stage.in++;
            if (outbox.size >= bufferSize) {
              outbox.dropOldest();
              stage.dropped++;
            }
            outbox.push(value);
          },
          error: (error) => outbox.error(error),
          complete: () => outbox.complete(),
        }),
      );
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
      };
    });
}
