import type { MonoTypeOperatorFunction } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { AUTO_MAX_PREFETCH } from '../src/autotune/options.js';
import { tunedScope } from '../src/autotune/tuner.js';
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
 * past `n`: when full it closes its gate and everything above it waits. `prefetch('auto')` lets
 * the pipeline's tuner choose `n` while it runs, from 1 up to `max` (default
 * {@link AUTO_MAX_PREFETCH}, 16), which is then the bound (docs/autotune.md).
 *
 * @example
 * ```ts
 * source$.pipe(parallelMap(decode, { concurrency: 4 }), batch(64), prefetch(2), trainOn(model));
 * source$.pipe(parallelMap(decode, { concurrency: 'auto' }), batch(64), prefetch('auto'), trainOn(model));
 * ```
 */
export function prefetch<T>(n: number | 'auto', options: { name?: string; /** The ceiling of `'auto'`. */ max?: number } = {}): MonoTypeOperatorFunction<T> {
  const auto = n === 'auto';
  const fixed = n === 'auto' ? options.max ?? AUTO_MAX_PREFETCH : n;
  if (!(Number.isInteger(fixed) && fixed >= 1)) {
    throw new RangeError(auto ? `prefetch: max must be an integer >= 1, got ${fixed}` : `prefetch: n must be an integer >= 1 or 'auto', got ${fixed}`);
  }
  const key = {};
  return (source) =>
    scoped<T>((subscriber, below) => {
      // 'auto': the pipeline's tuner sets the depth (a pipeline without statistics gets its own).
      const tuning = auto ? tunedScope(below, key) : undefined;
      const scope = tuning?.scope ?? below;
      const stage = stageFor(scope.stats, key, options.name ?? 'prefetch', 'operator');
      const knob = tuning?.tuner.attach(key, stage, { kind: 'buffer', label: 'prefetch', min: 1, max: fixed, initial: 1 });
      let depth = knob ? knob.value : fixed;
      /** Open while the buffer has room: the producer above may run. */
      const gate = new Valve(stage.name);
      // In a resumable pipeline: what the buffer holds is saved, mirrored as it fills and drains (see src/state/).
      const held = new Mirror<T>();
      const state = registerStage({ kind: 'prefetch', name: stage.name, role: 'operator', save: () => ({ buffer: held.values() }), held: () => held.size });
      if (state) subscriber = state.emitter(subscriber, () => held.shift());
      const room = (): void => {
        knob?.observe(0, 0, outbox.size);
        gate.set(outbox.size < depth);
      };
      const outbox = new Outbox<T>(subscriber, below, () => {
        knob?.complete();
        room();
      }, stage);
      for (const value of (state?.restored as { buffer: T[] } | undefined)?.buffer ?? []) {
        held.push(value);
        outbox.push(value);
      }
      gate.set(outbox.size < depth);
      const offKnob = knob?.onChange((value) => {
        depth = value;
        room();
      });
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          state?.received();
          stage.in++;
          knob?.sample(value);
          if (state) held.push(value);
          outbox.push(value);
          room();
        },
        error: (error) => outbox.error(error),
        complete: () => outbox.complete(),
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
        offKnob?.();
        if (knob) tuning!.tuner.detach(knob);
      };
    });
}
