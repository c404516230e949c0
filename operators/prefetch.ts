import type { MonoTypeOperatorFunction } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { Mirror, registerStage } from '../src/state/registry.js';

/**
 * Keeps up to `n` elements ready ahead of a slow consumer, and stops the producer when full.
 *
 * ```
 * source:   -a-b-c-d-e-f-g-h-…   (as fast as it may)
 * buffer:    ≤ n elements
 * consumer:  ---a------b------c-  (slow)
 * ```
 *
 * The producer runs while the buffer has room, so preparing the next batch overlaps the step
 * that consumes the current one (tf.data's `prefetch`). Unlike an RxJS buffer it never grows
 * past `n`: when full it closes its gate and everything above it waits.
 *
 * @example
 * ```ts
 * source$.pipe(parallelMap(decode, { concurrency: 4 }), batch(64), prefetch(2), trainOn(model));
 * ```
 */
export function prefetch<T>(n: number, options: { name?: string } = {}): MonoTypeOperatorFunction<T> {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`prefetch: n must be an integer >= 1, got ${n}`);
  const key = {};
  return (source) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, options.name ?? 'prefetch', 'operator');
      /** Open while the buffer has room: the producer above may run. */
      const gate = new Valve(stage.name);
      // In a resumable pipeline: what the buffer holds is saved, mirrored as it fills and drains (see src/state/).
      const held = new Mirror<T>();
      const state = registerStage({ kind: 'prefetch', name: stage.name, role: 'operator', save: () => ({ buffer: held.values() }), held: () => held.size });
      if (state) subscriber = state.emitter(subscriber, () => held.shift());
      const outbox = new Outbox<T>(subscriber, scope, () => gate.set(outbox.size < n), stage);
      for (const value of (state?.restored as { buffer: T[] } | undefined)?.buffer ?? []) {
        held.push(value);
        outbox.push(value);
      }
      gate.set(outbox.size < n);
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          state?.received();
          stage.in++;
          if (state) held.push(value);
          outbox.push(value);
          gate.set(outbox.size < n);
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
